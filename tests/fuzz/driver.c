/* Runs a fuzz harness over files and directories of inputs, without
 * libFuzzer: the regression run of `make check` (any compiler, sanitizers
 * on). Prints TAP: one result per corpus given. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long n;

	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = malloc(n > 0 ? (size_t)n : 1);
	if (!buf || (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)) {
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	/* a copy of exactly n bytes, so reading past the end is caught */
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	int failed = 0;

	printf("1..%d\n", argc - 1);
	for (int i = 1; i < argc; i++) {
		struct stat st;
		size_t count = 0;
		int bad = 0;

		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			DIR *d = opendir(argv[i]);
			struct dirent *e;

			while (d && (e = readdir(d))) {
				char p[4096];

				if (e->d_name[0] == '.')
					continue;
				snprintf(p, sizeof(p), "%s/%s", argv[i], e->d_name);
				bad |= run_file(p) != 0;
				count++;
			}
			if (d)
				closedir(d);
			else
				bad = 1;
		} else {
			bad = run_file(argv[i]) != 0;
			count = 1;
		}
		/* a crash or a sanitizer report ends the process before this */
		printf("%s %d - %zu inputs of %s run without a fault\n", bad || !count ? "not ok" : "ok",
		       i, count, argv[i]);
		failed |= bad || !count;
	}
	return failed;
}
