/* The Redis adapter's wire forms: msgpack as notepack.io (Node's
 * @socket.io/redis-adapter) writes and reads it, to and from cJSON with
 * binary attachments as placeholders, the way sios carries event
 * arguments. Private to lib/adapter. */
#ifndef SIOS_REDIS_WIRE_H
#define SIOS_REDIS_WIRE_H

#include <msgpack.h>

#include "adapter.h"

/* at most this many binaries in one message, as for a client's packet */
#define SIOS__RW_MAX_BINS 1000

typedef struct sios__rw_bins {
	sios_binary *v; /* data borrowed from the unpacked message */
	size_t n, cap;
} sios__rw_bins;

/* A msgpack value as cJSON: bin becomes a placeholder naming its place in
 * bins, a date (ext -1) an ISO 8601 string, NaN and other exts null.
 * NULL when the value cannot be carried: a string that is not UTF-8, a map
 * key that is not a string, too many binaries, out of memory. */
cJSON *sios__rw_to_json(const msgpack_object *o, sios__rw_bins *bins);
void sios__rw_bins_free(sios__rw_bins *bins);

/* cJSON into msgpack: integers in their smallest form, other numbers as
 * float64, placeholders naming one of bins as bin. */
int sios__rw_pack_json(msgpack_packer *pk, const cJSON *v, const sios_binary *bins, size_t nbins);
void sios__rw_pack_cstr(msgpack_packer *pk, const char *s);

/* {type:2, data:[event, ...args], nsp} */
int sios__rw_pack_packet(msgpack_packer *pk, const sios__bpacket *p);
int sios__rw_pack_event(msgpack_packer *pk, const char *nsp, const char *event, const cJSON *args,
			const sios_binary *bins, size_t nbins);
/* {rooms:[...], except:[...], flags:{...}} with the scope's flags, and
 * timeout_ms when not 0; with offset (connection state recovery between
 * sios servers) also {offset}, which Node's adapter ignores */
void sios__rw_pack_opts(msgpack_packer *pk, const sios__sel *sel, unsigned timeout_ms,
			const char *offset);

/* Unpacks exactly one msgpack value filling all of data (trailing bytes
 * are an error, as for notepack.io). 0 or SIOS_EINVAL. */
int sios__rw_unpack(msgpack_unpacked *u, const char *data, size_t len);

#endif
