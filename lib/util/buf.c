#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

sios__buf *sios__buf_new(size_t head, size_t cap)
{
	sios__buf *b = malloc(sizeof(*b) + head + cap + 1);

	if (!b)
		return NULL;
	b->refs = 1;
	b->head = (uint32_t)head;
	b->len = 0;
	b->cap = cap;
	b->data = b->mem + head;
	b->data[cap] = 0;
	return b;
}

sios__buf *sios__buf_from(size_t head, const void *p, size_t n)
{
	sios__buf *b = sios__buf_new(head, n);

	if (!b)
		return NULL;
	if (n)
		memcpy(b->data, p, n);
	b->len = n;
	b->data[n] = 0;
	return b;
}

void sios__buf_unref(sios__buf *b)
{
	if (b && --b->refs == 0) {
		if (b->cap >= 65536)
			sios__trim_note(b->cap);
		free(b);
	}
}

static _Atomic size_t trim_noted;

void sios__trim_note(size_t bytes) { trim_noted += bytes; }

int sios__trim_due(size_t threshold)
{
	size_t n = trim_noted;

	if (n < threshold)
		return 0;
	trim_noted -= n;
	return 1;
}

/* ---- string builder -------------------------------------------------- */

void sios__str_init(sios__str *s)
{
	s->p = NULL;
	s->len = s->cap = 0;
	s->oom = 0;
}

void sios__str_free(sios__str *s)
{
	free(s->p);
	sios__str_init(s);
}

int sios__str_reserve(sios__str *s, size_t extra)
{
	size_t need = s->len + extra + 1, ncap;
	char *np;

	if (s->oom)
		return -1;
	if (need <= s->cap)
		return 0;
	ncap = s->cap ? s->cap : 64;
	while (ncap < need)
		ncap *= 2;
	np = realloc(s->p, ncap);
	if (!np) {
		s->oom = 1;
		return -1;
	}
	s->p = np;
	s->cap = ncap;
	return 0;
}

int sios__str_add(sios__str *s, const void *p, size_t n)
{
	if (sios__str_reserve(s, n))
		return -1;
	if (n)
		memcpy(s->p + s->len, p, n);
	s->len += n;
	s->p[s->len] = 0;
	return 0;
}

int sios__str_addc(sios__str *s, char c) { return sios__str_add(s, &c, 1); }

int sios__str_adds(sios__str *s, const char *z) { return sios__str_add(s, z, strlen(z)); }

int sios__str_addf(sios__str *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || sios__str_reserve(s, (size_t)n))
		return -1;
	va_start(ap, fmt);
	vsnprintf(s->p + s->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	s->len += (size_t)n;
	return 0;
}

/* ---- helpers --------------------------------------------------------- */

char *sios__strndup(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (!p)
		return NULL;
	memcpy(p, s, n);
	p[n] = 0;
	return p;
}

char *sios__strdup(const char *s) { return s ? sios__strndup(s, strlen(s)) : NULL; }

int sios__url_encode(sios__str *out, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("-_.!~*'()", *p)) {
			sios__str_addc(out, (char)*p);
		} else {
			char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};

			sios__str_add(out, e, 3);
		}
	}
	return out->oom ? -1 : 0;
}

int sios__strcaseeq(const char *a, const char *b) { return strcasecmp(a, b) == 0; }

/* ---- string arrays ----------------------------------------------------- */

int sios__strv_add(char ***v, size_t *n, const char *s, int unique)
{
	char **nv, *d;

	if (unique)
		for (size_t i = 0; i < *n; i++)
			if (!strcmp((*v)[i], s))
				return 0;
	d = sios__strdup(s);
	nv = d ? realloc(*v, (*n + 1) * sizeof(char *)) : NULL;
	if (!nv) {
		free(d);
		return SIOS_ENOMEM;
	}
	nv[(*n)++] = d;
	*v = nv;
	return 0;
}

void sios__strv_free(char ***v, size_t *n)
{
	for (size_t i = 0; i < *n; i++)
		free((*v)[i]);
	free(*v);
	*v = NULL;
	*n = 0;
}

int sios__strv_copy(char ***dst, size_t *dn, char *const *src, size_t sn)
{
	*dst = NULL;
	*dn = 0;
	for (size_t i = 0; i < sn; i++)
		if (sios__strv_add(dst, dn, src[i], 0)) {
			sios__strv_free(dst, dn);
			return SIOS_ENOMEM;
		}
	return 0;
}

int sios__utf8_valid(const void *v, size_t n)
{
	const unsigned char *p, *end;

	if (!n)
		return 1; /* v may be NULL */
	p = v;
	end = p + n;

	while (p < end) {
		unsigned c = *p;

		if (c < 0x80) {
			/* ASCII runs go eight bytes at a time */
			while (end - p >= 8) {
				uint64_t w;

				memcpy(&w, p, 8);
				if (w & 0x8080808080808080ull)
					break;
				p += 8;
			}
			if (p < end && *p < 0x80)
				p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			if (end - p < 2 || (p[1] & 0xc0) != 0x80)
				return 0;
			p += 2;
		} else if (c >= 0xe0 && c <= 0xef) {
			unsigned lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;

			if (end - p < 3 || p[1] < lo || p[1] > hi || (p[2] & 0xc0) != 0x80)
				return 0;
			p += 3;
		} else if (c >= 0xf0 && c <= 0xf4) {
			unsigned lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;

			if (end - p < 4 || p[1] < lo || p[1] > hi || (p[2] & 0xc0) != 0x80 ||
			    (p[3] & 0xc0) != 0x80)
				return 0;
			p += 4;
		} else {
			return 0;
		}
	}
	return 1;
}
