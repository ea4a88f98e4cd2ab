/* The Redis adapter's msgpack reader (what another server, or anyone with
 * access to Redis, publishes). Any input: unpacked, turned into cJSON with
 * binaries as placeholders; whatever is read is packed again and must read
 * back to the same JSON and the same binaries. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if SIOS_WITH_REDIS
#include "adapter/redis_wire.h"

static void roundtrip(const cJSON *v, const sios__rw_bins *bins)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	msgpack_unpacked u;
	sios__rw_bins again = {0};
	cJSON *w;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (sios__rw_pack_json(&pk, v, bins->v, bins->n) == 0) {
		msgpack_unpacked_init(&u);
		if (sios__rw_unpack(&u, sb.data, sb.size))
			abort(); /* we wrote something we cannot read */
		w = sios__rw_to_json(&u.data, &again);
		/* numbers may change form (1.0 is 1), never value */
		if (!w || !cJSON_Compare(v, w, 1) || again.n != bins->n)
			abort();
		for (size_t i = 0; i < bins->n; i++)
			if (again.v[i].len != bins->v[i].len ||
			    memcmp(again.v[i].data, bins->v[i].data, bins->v[i].len))
				abort();
		cJSON_Delete(w);
		sios__rw_bins_free(&again);
		msgpack_unpacked_destroy(&u);
	}
	msgpack_sbuffer_destroy(&sb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	msgpack_unpacked u;
	sios__rw_bins bins = {0};
	cJSON *v;

	msgpack_unpacked_init(&u);
	if (sios__rw_unpack(&u, (const char *)data, size) == 0 &&
	    (v = sios__rw_to_json(&u.data, &bins))) {
		roundtrip(v, &bins);
		cJSON_Delete(v);
	}
	sios__rw_bins_free(&bins);
	msgpack_unpacked_destroy(&u);
	return 0;
}
#else
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)data;
	(void)size;
	return 0;
}
#endif
