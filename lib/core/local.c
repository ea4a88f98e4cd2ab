/* What core lends adapters (adapter/adapter.h): this server's part of every
 * cluster operation, on the local room index. */
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

const char *sios__nsp_name(const struct sios_nsp *nsp) { return nsp->name; }

void sios__nsp_enter(struct sios_nsp *nsp) { sios__core_enter(nsp->srv); }

void sios__nsp_leave(struct sios_nsp *nsp) { sios__core_leave(nsp->srv); }

long long sios__nsp_next_ack(struct sios_nsp *nsp) { return nsp->next_ack++; }

int sios__local_has_room(struct sios_nsp *nsp, const char *room)
{
	return sios__map_get(&nsp->rooms, room) != NULL;
}

const sios__frame *sios__bpacket_frame(sios__bpacket *p)
{
	if (!p->encoded) {
		cJSON *with_offset = NULL;
		const cJSON *args = p->args;
		int r;

		if (p->offset) {
			/* recovery: the packet's offset travels as its last argument */
			with_offset = args ? cJSON_Duplicate(args, 1) : cJSON_CreateArray();
			if (!with_offset || !cJSON_AddItemToArray(with_offset, cJSON_CreateString(p->offset))) {
				cJSON_Delete(with_offset);
				p->encoded = SIOS_ENOMEM;
				return NULL;
			}
			args = with_offset;
		}
		r = sios__encode_message(&p->frame, 0, p->nsp->name, p->ack_id, p->event, args, p->bins,
					 p->nbins);
		cJSON_Delete(with_offset);
		p->encoded = r ? r : 1;
		if (!r)
			p->nsp->srv->packets_encoded++;
	}
	return p->encoded == 1 ? &p->frame : NULL;
}

void sios__bpacket_clear(sios__bpacket *p)
{
	if (p->encoded == 1)
		sios__frame_clear(&p->frame);
	p->encoded = 0;
}

struct deliver {
	sios__bpacket *p;
	const sios__frame *f;
	unsigned flags;
	struct sios__bcast_ack *ack;
	size_t n;
};

static void deliver_one(struct sios_socket *s, void *ud)
{
	struct deliver *d = ud;

	if (!d->f && !(d->f = sios__bpacket_frame(d->p)))
		return;
	if (sios__local_deliver(s, (sios__frame *)d->f, d->flags) == 0)
		d->n++;
}

size_t sios__local_broadcast(const sios__sel *sel, sios__bpacket *p)
{
	struct deliver d = {p, NULL, sel->flags, NULL, 0};

	sios__local_select(sel, deliver_one, &d);
	return d.n;
}

static void deliver_ack(struct sios_socket *s, void *ud)
{
	struct deliver *d = ud;

	/* a socket that owes as many acks as allowed is not asked for more */
	if (!sios__local_ack_room(s))
		return;
	if (!d->f && !(d->f = sios__bpacket_frame(d->p)))
		return;
	if (sios__local_deliver(s, (sios__frame *)d->f, d->flags & ~SIOS_SCOPE_VOLATILE) == 0) {
		sios__local_register_ack(s, d->p->ack_id, d->ack);
		d->n++;
	}
}

size_t sios__local_broadcast_with_ack(const sios__sel *sel, sios__bpacket *p,
				      struct sios__bcast_ack *b)
{
	struct deliver d = {p, NULL, sel->flags, b, 0};

	sios__local_select(sel, deliver_ack, &d);
	sios__bcast_ack_count(b, d.n);
	return d.n;
}

/* sockets collected first: the operations change the index being walked */
struct collect {
	struct sios_socket **v;
	size_t n, cap;
	int oom;
};

static void collect_one(struct sios_socket *s, void *ud)
{
	struct collect *c = ud;

	if (c->n == c->cap) {
		size_t nc = c->cap ? c->cap * 2 : 16;
		struct sios_socket **nv = realloc(c->v, nc * sizeof(*nv));

		if (!nv) {
			c->oom = 1;
			return;
		}
		c->v = nv;
		c->cap = nc;
	}
	c->v[c->n++] = s;
}

cJSON *sios__local_fetch(const sios__sel *sel)
{
	struct collect c = {0};
	cJSON *arr = cJSON_CreateArray();

	if (!arr)
		return NULL;
	sios__local_select(sel, collect_one, &c);
	for (size_t i = 0; i < c.n && !c.oom; i++) {
		cJSON *o = sios__socket_describe(c.v[i]);

		if (!o)
			c.oom = 1;
		else
			cJSON_AddItemToArray(arr, o);
	}
	free(c.v);
	if (c.oom) {
		cJSON_Delete(arr);
		return NULL;
	}
	return arr;
}

int sios__local_add_sockets(const sios__sel *sel, const char *const *rooms, size_t n)
{
	struct collect c = {0};
	struct sios_nsp *nsp = sel->nsp;
	int r = 0;

	sios__local_select(sel, collect_one, &c);
	for (size_t i = 0; i < c.n; i++)
		for (size_t k = 0; k < n; k++) {
			int e = nsp->adapter->ops->join(nsp->adapter, c.v[i], rooms[k]);

			if (e && !r)
				r = e;
		}
	free(c.v);
	return c.oom ? SIOS_ENOMEM : r;
}

int sios__local_del_sockets(const sios__sel *sel, const char *const *rooms, size_t n)
{
	struct collect c = {0};
	struct sios_nsp *nsp = sel->nsp;

	sios__local_select(sel, collect_one, &c);
	for (size_t i = 0; i < c.n; i++)
		for (size_t k = 0; k < n; k++)
			nsp->adapter->ops->leave(nsp->adapter, c.v[i], rooms[k]);
	free(c.v);
	return c.oom ? SIOS_ENOMEM : 0;
}

int sios__local_disconnect_sockets(const sios__sel *sel, int close)
{
	struct collect c = {0};

	sios__local_select(sel, collect_one, &c);
	for (size_t i = 0; i < c.n; i++)
		sios__socket_disconnect(c.v[i], close);
	free(c.v);
	return c.oom ? SIOS_ENOMEM : 0;
}

cJSON *sios__local_rooms(struct sios_nsp *nsp)
{
	cJSON *arr = cJSON_CreateArray();
	size_t it = 0;
	sios__room *r;

	while (arr && (r = sios__map_next(&nsp->rooms, &it)))
		cJSON_AddItemToArray(arr, cJSON_CreateString(r->name));
	return arr;
}
