/*
 * Publishes one event into a cluster with the sios emitter
 * (tests/interop/cluster.test.js):
 *
 *   emit_probe URL NSP EVENT JSON-ARGS [--to ROOM]... [--except ROOM]...
 *              [--binary HEX]
 *
 * --binary adds one attachment, named by the placeholder {"_placeholder":
 * true,"num":0} inside JSON-ARGS. Exit 0 when it was published.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sios.h>

int main(int argc, char **argv)
{
	sios_emitter *em;
	cJSON *args;
	unsigned char bin[256];
	sios_binary b = {bin, 0};
	int r;

	if (argc < 5) {
		fprintf(stderr, "usage: emit_probe URL NSP EVENT JSON-ARGS [--to R] [--except R] [--binary HEX]\n");
		return 2;
	}
	if ((r = sios_emitter_new(argv[1], &em)) < 0) {
		fprintf(stderr, "emit_probe: %s\n", sios_strerror(r));
		return 1;
	}
	args = cJSON_Parse(argv[4]);
	for (int i = 5; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--to"))
			sios_emitter_to(em, argv[i + 1]);
		else if (!strcmp(argv[i], "--except"))
			sios_emitter_except(em, argv[i + 1]);
		else if (!strcmp(argv[i], "--binary"))
			for (const char *h = argv[i + 1]; h[0] && h[1] && b.len < sizeof(bin); h += 2) {
				unsigned v;

				sscanf(h, "%2x", &v);
				bin[b.len++] = (unsigned char)v;
			}
	}
	r = sios_emitter_emit(em, argv[2], argv[3], args, b.len ? &b : NULL, b.len ? 1 : 0);
	if (r < 0)
		fprintf(stderr, "emit_probe: %s\n", sios_strerror(r));
	cJSON_Delete(args);
	sios_emitter_free(em);
	return r < 0;
}
