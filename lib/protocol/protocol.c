#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

static const char *reserved[] = {"connect", "connect_error", "disconnect", "disconnecting",
				 "newListener", "removeListener", NULL};

int sios__reserved_event(const char *name)
{
	for (int i = 0; reserved[i]; i++)
		if (!strcmp(name, reserved[i]))
			return 1;
	return 0;
}

void sios__packet_clear(sios__packet *p)
{
	free(p->nsp);
	cJSON_Delete(p->data);
	memset(p, 0, sizeof(*p));
	p->id = -1;
}

static int payload_valid(const sios__packet *p)
{
	const cJSON *d = p->data;

	switch (p->type) {
	case SIOS__P_CONNECT:
		return !d || cJSON_IsObject(d);
	case SIOS__P_DISCONNECT:
		return !d;
	case SIOS__P_CONNECT_ERROR:
		return d && (cJSON_IsObject(d) || cJSON_IsString(d));
	case SIOS__P_EVENT:
	case SIOS__P_BINARY_EVENT:
		/* a number is a valid event name in socket.io-parser: JS turns
		 * it into a string key; event_name_number() does the same */
		return cJSON_IsArray(d) &&
		       ((cJSON_IsString(d->child) && !sios__reserved_event(d->child->valuestring)) ||
			cJSON_IsNumber(d->child));
	case SIOS__P_ACK:
	case SIOS__P_BINARY_ACK:
		/* "43" (no id, no data) is ignored by Node rather than refused */
		return !d || cJSON_IsArray(d);
	}
	return 0;
}

/* ["1", ...] for [1, ...]: the name as JavaScript's String(1) gives it */
static int event_name_number(cJSON *arr)
{
	char buf[32];
	double v = arr->child->valuedouble;
	cJSON *name;

	/* the range first: converting a double beyond long long is undefined
	 * (found by the fuzzer: [9257199259257194740991]) */
	if (v > -1e15 && v < 1e15 && v == (double)(long long)v)
		snprintf(buf, sizeof(buf), "%lld", (long long)v);
	else
		snprintf(buf, sizeof(buf), "%.17g", v);
	name = cJSON_CreateString(buf);
	if (!name)
		return -1;
	cJSON_ReplaceItemInArray(arr, 0, name);
	return 0;
}

/* JavaScript strings may hold a lone UTF-16 surrogate (text cut inside
 * an emoji), and JSON.stringify writes it as "\\ud83d"; cJSON refuses it.
 * Such escapes become U+FFFD and the JSON is parsed again: the event goes
 * on, with the replacement character where the half character was. Only
 * runs when the first parse failed. */
static int hex4(const char *p, const char *end, unsigned *v)
{
	*v = 0;
	if (end - p < 4)
		return 0;
	for (int k = 0; k < 4; k++) {
		int c = p[k];

		*v <<= 4;
		if (c >= '0' && c <= '9')
			*v |= (unsigned)(c - '0');
		else if ((c | 32) >= 'a' && (c | 32) <= 'f')
			*v |= (unsigned)((c | 32) - 'a' + 10);
		else
			return 0;
	}
	return 1;
}

static cJSON *parse_with_lone_surrogates(const char *s, size_t n)
{
	const char *end = s + n, *p, *pe = NULL;
	sios__str out;
	int fixed = 0, in_str = 0;
	cJSON *j = NULL;

	sios__str_init(&out);
	for (p = s; p < end; p++) {
		unsigned v, w;

		if (*p == '"') {
			in_str = !in_str;
		} else if (in_str && *p == '\\' && p + 1 < end) {
			if (p[1] == 'u' && hex4(p + 2, end, &v) && v >= 0xd800 && v <= 0xdfff) {
				int paired = v <= 0xdbff && end - p >= 12 && p[6] == '\\' &&
					     p[7] == 'u' && hex4(p + 8, end, &w) && w >= 0xdc00 &&
					     w <= 0xdfff;

				if (paired) {
					sios__str_add(&out, p, 12);
					p += 11;
				} else {
					sios__str_adds(&out, "\\ufffd");
					p += 5;
					fixed = 1;
				}
				continue;
			}
			sios__str_add(&out, p, 2); /* an escape: its second byte is not a quote */
			p++;
			continue;
		}
		sios__str_addc(&out, *p);
	}
	if (fixed && !out.oom) {
		j = cJSON_ParseWithLengthOpts(out.p, out.len, &pe, 0);
		if (j && pe != out.p + out.len) {
			cJSON_Delete(j);
			j = NULL;
		}
	}
	sios__str_free(&out);
	return j;
}

int sios__packet_decode(const char *s, size_t n, sios__packet *out)
{
	size_t i = 0;

	memset(out, 0, sizeof(*out));
	out->id = -1;
	if (n < 1 || s[0] < '0' || s[0] > '6')
		return -1;
	out->type = s[0] - '0';
	i = 1;
	if (out->type == SIOS__P_BINARY_EVENT || out->type == SIOS__P_BINARY_ACK) {
		size_t start = i, cnt = 0;

		while (i < n && isdigit((unsigned char)s[i]) && i - start < 6)
			cnt = cnt * 10 + (size_t)(s[i++] - '0');
		if (i == start || i >= n || s[i] != '-' || cnt > SIOS__MAX_ATTACHMENTS)
			return -1;
		i++;
		out->attachments = cnt;
	}
	if (i < n && s[i] == '/') {
		size_t start = i;

		while (i < n && s[i] != ',')
			i++;
		out->nsp = sios__strndup(s + start, i - start);
		if (!out->nsp)
			return -1;
		if (i < n)
			i++; /* the comma */
	} else {
		out->nsp = sios__strdup("/");
		if (!out->nsp)
			return -1;
	}
	if (i < n && isdigit((unsigned char)s[i])) {
		long long id = 0;
		size_t start = i;

		/* any integer JavaScript holds exactly: up to 2^53 - 1 */
		while (i < n && isdigit((unsigned char)s[i])) {
			if (i - start >= 16)
				goto bad;
			id = id * 10 + (s[i++] - '0');
		}
		if (id > 9007199254740991LL)
			goto bad;
		out->id = id;
	}
	if (i < n) {
		const char *end = NULL;

		out->data = cJSON_ParseWithLengthOpts(s + i, n - i, &end, 0);
		if (!out->data || end != s + n) {
			cJSON_Delete(out->data);
			out->data = parse_with_lone_surrogates(s + i, n - i);
			if (!out->data)
				goto bad;
		}
	}
	if (!payload_valid(out))
		goto bad;
	if (out->id >= 0 && out->type != SIOS__P_EVENT && out->type != SIOS__P_BINARY_EVENT &&
	    out->type != SIOS__P_ACK && out->type != SIOS__P_BINARY_ACK)
		goto bad;
	if ((out->type == SIOS__P_EVENT || out->type == SIOS__P_BINARY_EVENT) &&
	    cJSON_IsNumber(out->data->child) && event_name_number(out->data))
		goto bad;
	if ((out->type == SIOS__P_ACK || out->type == SIOS__P_BINARY_ACK) && !out->data &&
	    !(out->data = cJSON_CreateArray()))
		goto bad;
	return 0;
bad:
	sios__packet_clear(out);
	return -1;
}

int sios__is_placeholder(const cJSON *node, size_t nbins, int *num)
{
	const cJSON *ph, *nm;

	if (!cJSON_IsObject(node))
		return 0;
	ph = cJSON_GetObjectItemCaseSensitive(node, "_placeholder");
	nm = cJSON_GetObjectItemCaseSensitive(node, "num");
	if (!cJSON_IsTrue(ph) || !cJSON_IsNumber(nm))
		return 0;
	if (nm->valuedouble < 0 || nm->valuedouble >= (double)nbins ||
	    nm->valuedouble != (double)(int)nm->valuedouble)
		return 0;
	if (num)
		*num = (int)nm->valuedouble;
	return 1;
}

static int looks_like_placeholder(const cJSON *node)
{
	return cJSON_IsObject(node) &&
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(node, "_placeholder"));
}

int sios__placeholders_valid(const cJSON *node, size_t nbins)
{
	if (looks_like_placeholder(node))
		return sios__is_placeholder(node, nbins, NULL);
	for (const cJSON *c = node ? node->child : NULL; c; c = c->next)
		if ((cJSON_IsArray(c) || cJSON_IsObject(c)) && !sios__placeholders_valid(c, nbins))
			return 0;
	return 1;
}

/* ---- encoding -------------------------------------------------------- */

int sios__json_string(sios__str *out, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	sios__str_addc(out, '"');
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': sios__str_add(out, "\\\"", 2); break;
		case '\\': sios__str_add(out, "\\\\", 2); break;
		case '\n': sios__str_add(out, "\\n", 2); break;
		case '\r': sios__str_add(out, "\\r", 2); break;
		case '\t': sios__str_add(out, "\\t", 2); break;
		case '\b': sios__str_add(out, "\\b", 2); break;
		case '\f': sios__str_add(out, "\\f", 2); break;
		default:
			if (*p < 0x20) {
				char u[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};

				sios__str_add(out, u, 6);
			} else {
				sios__str_addc(out, (char)*p);
			}
		}
	}
	return sios__str_addc(out, '"');
}

void sios__frame_clear(sios__frame *f)
{
	sios__buf_unref(f->head);
	for (size_t i = 0; i < f->natts; i++)
		sios__buf_unref(f->atts[i]);
	free(f->atts);
	memset(f, 0, sizeof(*f));
}

int sios__frame_copy(sios__frame *dst, const sios__frame *src)
{
	memset(dst, 0, sizeof(*dst));
	if (src->natts && !(dst->atts = malloc(src->natts * sizeof(*dst->atts))))
		return SIOS_ENOMEM;
	dst->head = src->head ? sios__buf_ref(src->head) : NULL;
	for (size_t i = 0; i < src->natts; i++)
		dst->atts[i] = sios__buf_ref(src->atts[i]);
	dst->natts = src->natts;
	return 0;
}

/* placeholders in print order: cJSON prints arrays and objects in order */
static int collect_ph(const cJSON *node, size_t nbins, int **order, size_t *n, size_t *cap)
{
	int num;

	if (sios__is_placeholder(node, nbins, &num)) {
		if (*n == *cap) {
			size_t nc = *cap ? *cap * 2 : 8;
			int *no = realloc(*order, nc * sizeof(int));

			if (!no)
				return -1;
			*order = no;
			*cap = nc;
		}
		(*order)[(*n)++] = num;
		return 0;
	}
	for (const cJSON *c = node->child; c; c = c->next)
		if ((cJSON_IsArray(c) || cJSON_IsObject(c)) && collect_ph(c, nbins, order, n, cap))
			return -1;
	return 0;
}

/* placeholders point at their attachment's place on the wire */
static void renumber(cJSON *node, size_t nbins, const int *wire)
{
	int num;

	if (sios__is_placeholder(node, nbins, &num)) {
		cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(node, "num"), wire[num]);
		return;
	}
	for (cJSON *c = node->child; c; c = c->next)
		if (cJSON_IsArray(c) || cJSON_IsObject(c))
			renumber(c, nbins, wire);
}

/* decimal digits of a non-negative number (printf costs more than the
 * rest of an ack's header) */
static void add_uint(sios__str *s, unsigned long long v)
{
	char d[24];
	size_t n = sizeof(d);

	do
		d[--n] = (char)('0' + v % 10);
	while ((v /= 10));
	sios__str_add(s, d + n, sizeof(d) - n);
}

static int prefix(sios__str *s, int type, size_t natts, const char *nsp, long long id)
{
	sios__str_addc(s, '4'); /* Engine.IO message */
	sios__str_addc(s, (char)('0' + type));
	if (natts) {
		add_uint(s, natts);
		sios__str_addc(s, '-');
	}
	if (nsp && strcmp(nsp, "/")) {
		sios__str_adds(s, nsp);
		sios__str_addc(s, ',');
	}
	if (id >= 0)
		add_uint(s, (unsigned long long)id);
	return s->oom ? -1 : 0;
}

static sios__buf *str_to_buf(sios__str *s)
{
	return sios__buf_from(0, s->p, s->len);
}

int sios__encode_message(sios__frame *f, int is_ack, const char *nsp,
			 long long id, const char *event, const cJSON *args,
			 const sios_binary *bins, size_t nbins)
{
	int *order = NULL, *wire = NULL, r = SIOS_ENOMEM;
	size_t nph = 0, cap = 0, natts = 0;
	cJSON *dup = NULL;
	const cJSON *a = args;
	sios__str s;
	char *json = NULL;

	memset(f, 0, sizeof(*f));
	sios__str_init(&s);
	if (args && !cJSON_IsArray(args))
		return SIOS_EINVAL;
	if (args && nbins && collect_ph(args, nbins, &order, &nph, &cap))
		goto out;
	if (nph) {
		int seq = 1;

		/* Each buffer goes on the wire once, in order of first
		 * appearance, however many placeholders refer to it: a packet
		 * whose 30000 placeholders name one buffer has one attachment,
		 * not 30000 copies. wire[num] is its place, or -1. */
		wire = malloc(nbins * sizeof(*wire));
		if (!wire)
			goto out;
		for (size_t i = 0; i < nbins; i++)
			wire[i] = -1;
		for (size_t i = 0; i < nph; i++) {
			int num = order[i];

			if (wire[num] < 0) {
				wire[num] = (int)natts;
				order[natts++] = num; /* order now lists buffers by place */
			}
			if (wire[num] != num)
				seq = 0; /* the JSON must say where each one went */
		}
		if (natts > SIOS__MAX_ATTACHMENTS) {
			r = SIOS_ETOOBIG;
			goto out;
		}
		if (!seq) {
			dup = cJSON_Duplicate(args, 1);
			if (!dup)
				goto out;
			renumber(dup, nbins, wire);
			a = dup;
		}
	}
	if (prefix(&s, natts ? (is_ack ? SIOS__P_BINARY_ACK : SIOS__P_BINARY_EVENT)
			     : (is_ack ? SIOS__P_ACK : SIOS__P_EVENT),
		   natts, nsp, id))
		goto out;
	sios__str_addc(&s, '[');
	if (event)
		sios__json_string(&s, event);
	if (a && a->child) {
		size_t jl;

		json = cJSON_PrintUnformatted(a);
		if (!json)
			goto out;
		jl = strlen(json); /* "[...]": keep the inside */
		if (event)
			sios__str_addc(&s, ',');
		sios__str_add(&s, json + 1, jl - 2);
	}
	sios__str_addc(&s, ']');
	if (s.oom)
		goto out;
	f->head = str_to_buf(&s);
	if (!f->head)
		goto out;
	if (natts) {
		f->atts = calloc(natts, sizeof(*f->atts));
		if (!f->atts)
			goto out;
		for (size_t i = 0; i < natts; i++) {
			const sios_binary *b = &bins[order[i]];

			if (!b->data && b->len) {
				r = SIOS_EINVAL;
				goto out;
			}
			f->atts[i] = sios__buf_from(0, b->data, b->len);
			if (!f->atts[i])
				goto out;
			f->natts++;
		}
	}
	r = 0;
out:
	if (r)
		sios__frame_clear(f);
	free(order);
	free(wire);
	free(json);
	cJSON_Delete(dup);
	sios__str_free(&s);
	return r;
}

int sios__encode_simple(sios__frame *f, int type, const char *nsp,
			const cJSON *data)
{
	sios__str s;
	int r = SIOS_ENOMEM;

	memset(f, 0, sizeof(*f));
	sios__str_init(&s);
	prefix(&s, type, 0, nsp, -1);
	if (data) {
		char *json = cJSON_PrintUnformatted(data);

		if (!json)
			goto out;
		sios__str_adds(&s, json);
		free(json);
	}
	if (s.oom)
		goto out;
	f->head = str_to_buf(&s);
	if (f->head)
		r = 0;
out:
	sios__str_free(&s);
	return r;
}
