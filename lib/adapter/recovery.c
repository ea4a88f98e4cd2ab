/* The recovery log (recovery.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recovery.h"

/* past this many logged broadcasts the oldest go early: a client whose
 * offset is gone is not recovered (it connects as a new socket) */
#define LOG_MAX 65536

struct sios__rlent {
	char offset[48];
	sios__frame frame;
	char **rooms, **except;
	size_t nrooms, nexcept;
	uint64_t at; /* wall clock ms */
	struct sios__rlent *next;
};

static int strv_has(char *const *v, size_t n, const char *s)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], s))
			return 1;
	return 0;
}

static void ent_free(struct sios__rlent *e)
{
	sios__frame_clear(&e->frame);
	sios__strv_free(&e->rooms, &e->nrooms);
	sios__strv_free(&e->except, &e->nexcept);
	free(e);
}

void sios__rlog_init(sios__rlog *l, unsigned window_ms, const char *prefix)
{
	memset(l, 0, sizeof(*l));
	l->window_ms = window_ms;
	snprintf(l->prefix, sizeof(l->prefix), "%s", prefix ? prefix : "");
}

void sios__rlog_free(sios__rlog *l)
{
	while (l->head) {
		struct sios__rlent *e = l->head;

		l->head = e->next;
		ent_free(e);
	}
	l->tail = NULL;
	l->n = 0;
}

/* the log keeps what a session could still ask for */
static void trim(sios__rlog *l, uint64_t now)
{
	while (l->head && (l->n > LOG_MAX || l->head->at + l->window_ms < now)) {
		struct sios__rlent *e = l->head;

		l->head = e->next;
		if (!l->head)
			l->tail = NULL;
		l->n--;
		ent_free(e);
	}
}

int sios__rlog_add(sios__rlog *l, const sios__sel *sel, sios__bpacket *p, const char *offset)
{
	struct sios__rlent *e = calloc(1, sizeof(*e));
	const sios__frame *f;
	uint64_t now = sios__wall_ms();

	if (!e)
		return SIOS_ENOMEM;
	if (offset)
		snprintf(e->offset, sizeof(e->offset), "%s", offset);
	else
		snprintf(e->offset, sizeof(e->offset), "%s%llx", l->prefix,
			 (unsigned long long)++l->next);
	p->offset = e->offset;
	if (!(f = sios__bpacket_frame(p)) || sios__frame_copy(&e->frame, f) ||
	    sios__strv_copy(&e->rooms, &e->nrooms, sel->rooms, sel->nrooms) ||
	    sios__strv_copy(&e->except, &e->nexcept, sel->except, sel->nexcept)) {
		int r = f ? SIOS_ENOMEM : p->encoded;

		p->offset = NULL; /* the frame, if any, still names e->offset */
		ent_free(e);
		return r;
	}
	e->at = now;
	if (l->tail)
		l->tail->next = e;
	else
		l->head = e;
	l->tail = e;
	l->n++;
	trim(l, now);
	return 0;
}

/* Node's shouldIncludePacket: in one of the packet's rooms (any when it
 * named none), in none of its excepted ones */
static int wants(char *const *rooms, size_t nrooms, const struct sios__rlent *e)
{
	int in = !e->nrooms;

	for (size_t i = 0; i < nrooms; i++) {
		if (strv_has(e->except, e->nexcept, rooms[i]))
			return 0;
		if (!in && strv_has(e->rooms, e->nrooms, rooms[i]))
			in = 1;
	}
	return in;
}

int sios__rlog_missed(sios__rlog *l, char *const *rooms, size_t nrooms, const char *offset,
		      sios__frame ***out, size_t *n)
{
	struct sios__rlent *e;
	sios__frame **v = NULL;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	trim(l, sios__wall_ms());
	for (e = l->head; offset && e; e = e->next)
		if (!strcmp(e->offset, offset))
			break;
	if (!e)
		return SIOS_ENOENT;
	for (e = e->next; e; e = e->next) {
		if (!wants(rooms, nrooms, e))
			continue;
		if (*n == cap) {
			size_t nc = cap ? cap * 2 : 16;
			sios__frame **nv = realloc(v, nc * sizeof(*nv));

			if (!nv) {
				free(v);
				*n = 0;
				return SIOS_ENOMEM;
			}
			v = nv;
			cap = nc;
		}
		v[(*n)++] = &e->frame;
	}
	*out = v;
	return 0;
}
