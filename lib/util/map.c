/* Open-addressing hash map from NUL-terminated keys to non-NULL values. */
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct sios__map_slot {
	const char *key; /* NULL: empty; TOMB: deleted */
	void *val;
	uint64_t hash;
};

static const char TOMB[1];

static uint64_t hash_n(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (size_t i = 0; i < n; i++) {
		h ^= (unsigned char)s[i];
		h *= 1099511628211ull;
	}
	return h;
}

void sios__map_init(sios__map *m) { memset(m, 0, sizeof(*m)); }

void sios__map_free(sios__map *m)
{
	free(m->slots);
	memset(m, 0, sizeof(*m));
}

static int grow(sios__map *m)
{
	size_t ncap = m->cap ? m->cap * 2 : 4; /* most maps are small: one per client */
	struct sios__map_slot *ns, *old = m->slots;
	size_t ocap = m->cap;

	/* a table full of tombstones is rebuilt at the same size */
	if (m->cap && m->len * 2 < m->cap)
		ncap = m->cap;
	ns = calloc(ncap, sizeof(*ns));
	if (!ns)
		return -1;
	for (size_t i = 0; i < ocap; i++) {
		struct sios__map_slot *o = &old[i];
		size_t j;

		if (!o->key || o->key == TOMB)
			continue;
		j = o->hash & (ncap - 1);
		while (ns[j].key)
			j = (j + 1) & (ncap - 1);
		ns[j] = *o;
	}
	free(old);
	m->slots = ns;
	m->cap = ncap;
	m->tombs = 0;
	return 0;
}

static struct sios__map_slot *find(const sios__map *m, const char *key, size_t klen,
				   uint64_t h)
{
	size_t i;

	if (!m->cap)
		return NULL;
	i = h & (m->cap - 1);
	for (;;) {
		struct sios__map_slot *s = &m->slots[i];

		if (!s->key)
			return NULL;
		if (s->key != TOMB && s->hash == h && strncmp(s->key, key, klen) == 0 &&
		    s->key[klen] == 0)
			return s;
		i = (i + 1) & (m->cap - 1);
	}
}

int sios__map_put(sios__map *m, const char *key, void *val)
{
	size_t klen = strlen(key), i;
	uint64_t h = hash_n(key, klen);
	struct sios__map_slot *s = find(m, key, klen, h);

	if (s) {
		s->val = val;
		return 0;
	}
	if ((m->len + m->tombs + 1) * 4 > m->cap * 3 && grow(m))
		return -1;
	i = h & (m->cap - 1);
	while (m->slots[i].key && m->slots[i].key != TOMB)
		i = (i + 1) & (m->cap - 1);
	if (m->slots[i].key == TOMB)
		m->tombs--;
	m->slots[i].key = key;
	m->slots[i].val = val;
	m->slots[i].hash = h;
	m->len++;
	return 0;
}

static void *map_get_n(const sios__map *m, const char *key, size_t klen)
{
	struct sios__map_slot *s = find(m, key, klen, hash_n(key, klen));

	return s ? s->val : NULL;
}

void *sios__map_get(const sios__map *m, const char *key)
{
	return map_get_n(m, key, strlen(key));
}

void *sios__map_del(sios__map *m, const char *key)
{
	size_t klen = strlen(key);
	struct sios__map_slot *s = find(m, key, klen, hash_n(key, klen));
	void *v;

	if (!s)
		return NULL;
	v = s->val;
	s->key = TOMB;
	s->val = NULL;
	m->len--;
	m->tombs++;
	return v;
}

void *sios__map_next(const sios__map *m, size_t *it)
{
	while (*it < m->cap) {
		struct sios__map_slot *s = &m->slots[(*it)++];

		if (s->key && s->key != TOMB)
			return s->val;
	}
	return NULL;
}
