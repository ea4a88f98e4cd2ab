/* msgpack <-> cJSON for the Redis adapter (redis_wire.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "redis_wire.h"

static cJSON *map_to_json(const msgpack_object *o, sios__rw_bins *bins);

void sios__rw_bins_free(sios__rw_bins *bins)
{
	free(bins->v);
	memset(bins, 0, sizeof(*bins));
}

static cJSON *placeholder(const void *data, size_t len, sios__rw_bins *bins)
{
	cJSON *o;

	if (bins->n >= SIOS__RW_MAX_BINS)
		return NULL;
	if (bins->n == bins->cap) {
		size_t nc = bins->cap ? bins->cap * 2 : 4;
		sios_binary *nv = realloc(bins->v, nc * sizeof(*nv));

		if (!nv)
			return NULL;
		bins->v = nv;
		bins->cap = nc;
	}
	if (!(o = cJSON_CreateObject()) || !cJSON_AddTrueToObject(o, "_placeholder") ||
	    !cJSON_AddNumberToObject(o, "num", (double)bins->n)) {
		cJSON_Delete(o);
		return NULL;
	}
	bins->v[bins->n].data = len ? data : ""; /* msgpack-c gives NULL for none */
	bins->v[bins->n].len = len;
	bins->n++;
	return o;
}

static cJSON *string_n(const char *s, size_t n)
{
	char *z;
	cJSON *v;

	if (!n)
		return cJSON_CreateString(""); /* s may be NULL */
	/* cJSON strings end at a NUL: one inside cannot be carried */
	if (!sios__utf8_valid(s, n) || memchr(s, 0, n) || !(z = malloc(n + 1)))
		return NULL;
	memcpy(z, s, n);
	z[n] = 0;
	v = cJSON_CreateString(z);
	free(z);
	return v;
}

/* a msgpack timestamp (ext -1), as JSON.stringify writes a Date */
static cJSON *date(const msgpack_object_ext *e)
{
	const unsigned char *p = (const unsigned char *)e->ptr;
	int64_t sec = 0;
	uint32_t nsec = 0;
	struct tm tm;
	time_t t;
	char buf[40];

	if (e->size == 4) {
		sec = (int64_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
	} else if (e->size == 8) {
		uint64_t v = 0;

		for (int i = 0; i < 8; i++)
			v = v << 8 | p[i];
		nsec = (uint32_t)(v >> 34);
		sec = (int64_t)(v & 0x3ffffffffull);
	} else if (e->size == 12) {
		uint64_t v = 0;

		nsec = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
		for (int i = 4; i < 12; i++)
			v = v << 8 | p[i];
		sec = (int64_t)v;
	} else {
		return cJSON_CreateNull();
	}
	t = (time_t)sec;
	if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0)
		return cJSON_CreateNull();
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (unsigned)(nsec / 1000000u) % 1000u);
	return cJSON_CreateString(buf);
}

/* A map as an object. A key given twice keeps its last value, as
 * JavaScript reads it (and as JSON.parse does in the clients); a table of
 * the keys finds them in big maps. */
static cJSON *map_to_json(const msgpack_object *o, sios__rw_bins *bins)
{
	cJSON *v = cJSON_CreateObject();
	sios__map keys;
	int ok = v != NULL;

	sios__map_init(&keys);
	for (uint32_t i = 0; ok && i < o->via.map.size; i++) {
		const msgpack_object_kv *kv = &o->via.map.ptr[i];
		cJSON *key = NULL, *item = NULL, *old;

		ok = kv->key.type == MSGPACK_OBJECT_STR &&
		     (key = string_n(kv->key.via.str.ptr, kv->key.via.str.size)) &&
		     (item = sios__rw_to_json(&kv->val, bins));
		if (ok && (old = sios__map_get(&keys, key->valuestring))) {
			/* in the old one's place, under the same key (cJSON frees
			 * an item's key with it) */
			sios__map_del(&keys, key->valuestring); /* names old's key */
			ok = (item->string = sios__strdup(key->valuestring)) &&
			     cJSON_ReplaceItemViaPointer(v, old, item);
			if (ok) {
				ok = sios__map_put(&keys, item->string, item) == 0;
				item = NULL;
			}
		} else if (ok) {
			ok = cJSON_AddItemToObject(v, key->valuestring, item) &&
			     sios__map_put(&keys, item->string, item) == 0;
			item = NULL;
		}
		cJSON_Delete(key);
		cJSON_Delete(item);
	}
	sios__map_free(&keys);
	if (!ok) {
		cJSON_Delete(v);
		return NULL;
	}
	return v;
}

cJSON *sios__rw_to_json(const msgpack_object *o, sios__rw_bins *bins)
{
	cJSON *v = NULL;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		return cJSON_CreateNull();
	case MSGPACK_OBJECT_BOOLEAN:
		return cJSON_CreateBool(o->via.boolean);
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		return cJSON_CreateNumber((double)o->via.u64);
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return cJSON_CreateNumber((double)o->via.i64);
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		/* JSON has no NaN or infinity: clients of Node get null too */
		return isfinite(o->via.f64) ? cJSON_CreateNumber(o->via.f64) : cJSON_CreateNull();
	case MSGPACK_OBJECT_STR:
		return string_n(o->via.str.ptr, o->via.str.size);
	case MSGPACK_OBJECT_BIN:
		return placeholder(o->via.bin.ptr, o->via.bin.size, bins);
	case MSGPACK_OBJECT_EXT:
		return o->via.ext.type == -1 ? date(&o->via.ext) : cJSON_CreateNull();
	case MSGPACK_OBJECT_ARRAY:
		if (!(v = cJSON_CreateArray()))
			return NULL;
		for (uint32_t i = 0; i < o->via.array.size; i++) {
			cJSON *item = sios__rw_to_json(&o->via.array.ptr[i], bins);

			if (!item || !cJSON_AddItemToArray(v, item)) {
				cJSON_Delete(item);
				cJSON_Delete(v);
				return NULL;
			}
		}
		return v;
	case MSGPACK_OBJECT_MAP:
		return map_to_json(o, bins);
	}
	return NULL;
}

void sios__rw_pack_cstr(msgpack_packer *pk, const char *s)
{
	size_t n = strlen(s);

	msgpack_pack_str(pk, n);
	msgpack_pack_str_body(pk, s, n);
}

int sios__rw_pack_json(msgpack_packer *pk, const cJSON *v, const sios_binary *bins, size_t nbins)
{
	int num;

	if (cJSON_IsNull(v))
		return msgpack_pack_nil(pk);
	if (cJSON_IsTrue(v))
		return msgpack_pack_true(pk);
	if (cJSON_IsFalse(v))
		return msgpack_pack_false(pk);
	if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;

		/* as notepack.io: integers in the smallest form, the rest float64 */
		if (d == floor(d) && fabs(d) < 9007199254740992.0)
			return msgpack_pack_int64(pk, (int64_t)d);
		return msgpack_pack_double(pk, d);
	}
	if (cJSON_IsString(v)) {
		sios__rw_pack_cstr(pk, v->valuestring);
		return 0;
	}
	if (cJSON_IsArray(v)) {
		msgpack_pack_array(pk, (size_t)cJSON_GetArraySize(v));
		for (const cJSON *c = v->child; c; c = c->next)
			if (sios__rw_pack_json(pk, c, bins, nbins))
				return SIOS_EINVAL;
		return 0;
	}
	if (cJSON_IsObject(v)) {
		if (sios__is_placeholder(v, nbins, &num)) {
			msgpack_pack_bin(pk, bins[num].len);
			return msgpack_pack_bin_body(pk, bins[num].data, bins[num].len);
		}
		msgpack_pack_map(pk, (size_t)cJSON_GetArraySize(v));
		for (const cJSON *c = v->child; c; c = c->next) {
			sios__rw_pack_cstr(pk, c->string ? c->string : "");
			if (sios__rw_pack_json(pk, c, bins, nbins))
				return SIOS_EINVAL;
		}
		return 0;
	}
	return SIOS_EINVAL; /* a raw cJSON item has no msgpack form */
}

int sios__rw_pack_event(msgpack_packer *pk, const char *nsp, const char *event, const cJSON *args,
			const sios_binary *bins, size_t nbins)
{
	int n = args ? cJSON_GetArraySize(args) : 0;

	msgpack_pack_map(pk, 3);
	sios__rw_pack_cstr(pk, "type");
	msgpack_pack_int(pk, 2); /* 2 even with binary arguments, as Node sends it */
	sios__rw_pack_cstr(pk, "data");
	msgpack_pack_array(pk, (size_t)n + 1);
	sios__rw_pack_cstr(pk, event);
	for (const cJSON *c = args ? args->child : NULL; c; c = c->next)
		if (sios__rw_pack_json(pk, c, bins, nbins))
			return SIOS_EINVAL;
	sios__rw_pack_cstr(pk, "nsp");
	sios__rw_pack_cstr(pk, nsp);
	return 0;
}

int sios__rw_pack_packet(msgpack_packer *pk, const sios__bpacket *p)
{
	return sios__rw_pack_event(pk, sios__nsp_name(p->nsp), p->event, p->args, p->bins, p->nbins);
}

static void pack_strv(msgpack_packer *pk, char *const *v, size_t n)
{
	msgpack_pack_array(pk, n);
	for (size_t i = 0; i < n; i++)
		sios__rw_pack_cstr(pk, v[i]);
}

void sios__rw_pack_opts(msgpack_packer *pk, const sios__sel *sel, unsigned timeout_ms,
			const char *offset)
{
	size_t nflags = !!(sel->flags & SIOS_SCOPE_VOLATILE) + !!timeout_ms;

	msgpack_pack_map(pk, offset ? 4 : 3);
	if (offset) { /* sios's own key: Node's adapter ignores it */
		sios__rw_pack_cstr(pk, "offset");
		sios__rw_pack_cstr(pk, offset);
	}
	sios__rw_pack_cstr(pk, "rooms");
	pack_strv(pk, sel->rooms, sel->nrooms);
	sios__rw_pack_cstr(pk, "except");
	pack_strv(pk, sel->except, sel->nexcept);
	sios__rw_pack_cstr(pk, "flags");
	msgpack_pack_map(pk, nflags);
	if (sel->flags & SIOS_SCOPE_VOLATILE) {
		sios__rw_pack_cstr(pk, "volatile");
		msgpack_pack_true(pk);
	}
	if (timeout_ms) {
		sios__rw_pack_cstr(pk, "timeout");
		msgpack_pack_unsigned_int(pk, timeout_ms);
	}
}

/* the big-endian number of k bytes at p[*i], or -1 past the end */
static int be(const unsigned char *p, size_t n, size_t *i, size_t k, uint64_t *out)
{
	uint64_t v = 0;

	if (k > n - *i)
		return -1;
	for (size_t j = 0; j < k; j++)
		v = v << 8 | p[(*i)++];
	*out = v;
	return 0;
}

/* Walks the msgpack value without allocating: one value filling all of
 * p, nested at most SIOS__RW_MAX_DEPTH deep, no container announcing more
 * elements than there are bytes left. msgpack-c allocates for an array's
 * announced size before reading it: 5 bytes could ask for gigabytes. */
#define SIOS__RW_MAX_DEPTH 32
static int sane(const unsigned char *p, size_t n)
{
	uint64_t left[SIOS__RW_MAX_DEPTH + 1];
	int depth = 0;
	size_t i = 0;

	left[0] = 1;
	while (depth >= 0) {
		uint64_t len = 0, cnt = 0;
		int container = 0, map = 0;
		unsigned c;

		if (!left[depth]) {
			depth--;
			continue;
		}
		left[depth]--;
		if (i >= n)
			return -1;
		c = p[i++];
		if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
			len = 0;
		} else if (c <= 0x8f) {
			container = map = 1, cnt = c & 0x0f;
		} else if (c <= 0x9f) {
			container = 1, cnt = c & 0x0f;
		} else if (c <= 0xbf) {
			len = c & 0x1f;
		} else if (c >= 0xc4 && c <= 0xc6) { /* bin */
			if (be(p, n, &i, (size_t)1 << (c - 0xc4), &len))
				return -1;
		} else if (c >= 0xc7 && c <= 0xc9) { /* ext: length, type, data */
			if (be(p, n, &i, (size_t)1 << (c - 0xc7), &len))
				return -1;
			len += 1;
		} else if (c == 0xca || c == 0xcb) {
			len = c == 0xca ? 4 : 8;
		} else if (c >= 0xcc && c <= 0xd3) { /* (u)int 8..64 */
			len = (uint64_t)1 << ((c - 0xcc) & 3);
		} else if (c >= 0xd4 && c <= 0xd8) { /* fixext: type and 1..16 bytes */
			len = 1 + ((uint64_t)1 << (c - 0xd4));
		} else if (c >= 0xd9 && c <= 0xdb) { /* str */
			if (be(p, n, &i, (size_t)1 << (c - 0xd9), &len))
				return -1;
		} else if (c == 0xdc || c == 0xdd || c == 0xde || c == 0xdf) {
			if (be(p, n, &i, c == 0xdc || c == 0xde ? 2 : 4, &cnt))
				return -1;
			container = 1, map = c >= 0xde;
		} else {
			return -1; /* 0xc1: never used */
		}
		if (!container) {
			if (len > n - i)
				return -1;
			i += (size_t)len;
			continue;
		}
		/* every element takes a byte at least */
		if (cnt > (n - i) / (map ? 2 : 1) || depth == SIOS__RW_MAX_DEPTH)
			return -1;
		left[++depth] = map ? cnt * 2 : cnt;
	}
	return i == n ? 0 : -1;
}

int sios__rw_unpack(msgpack_unpacked *u, const char *data, size_t len)
{
	size_t off = 0;

	if (sane((const unsigned char *)data, len) ||
	    msgpack_unpack_next(u, data, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len)
		return SIOS_EINVAL;
	return 0;
}
