/* The in-memory adapter: every operation on this server's local index. */
#include <stdlib.h>
#include <string.h>

#include "adapter.h"


static int m_join(sios__adapter *a, struct sios_socket *s, const char *room)
{
	(void)a;
	return sios__local_join(s, room);
}

static int m_leave(sios__adapter *a, struct sios_socket *s, const char *room)
{
	(void)a;
	return sios__local_leave(s, room);
}

static void m_leave_all(sios__adapter *a, struct sios_socket *s)
{
	(void)a;
	sios__local_leave_all(s);
}

struct deliver {
	sios__frame *f;
	unsigned flags;
	long long id;
	struct sios__bcast_ack *ack;
	size_t acked;
};

static void deliver_one(struct sios_socket *s, void *ud)
{
	struct deliver *d = ud;

	sios__local_deliver(s, d->f, d->flags);
}

static int m_broadcast(sios__adapter *a, const sios__sel *sel, sios__frame *f)
{
	struct deliver d = {f, sel->flags, -1, NULL, 0};

	(void)a;
	sios__local_select(sel, deliver_one, &d);
	return 0;
}

static void deliver_ack(struct sios_socket *s, void *ud)
{
	struct deliver *d = ud;

	/* a socket that owes as many acks as allowed is not asked for more */
	if (sios__local_ack_room(s) && sios__local_deliver(s, d->f, d->flags & ~SIOS_SCOPE_VOLATILE) == 0) {
		sios__local_register_ack(s, d->id, d->ack);
		d->acked++;
	}
}

static size_t m_broadcast_with_ack(sios__adapter *a, const sios__sel *sel, sios__frame *f,
				   long long id, struct sios__bcast_ack *ack)
{
	struct deliver d = {f, sel->flags, id, ack, 0};

	(void)a;
	sios__local_select(sel, deliver_ack, &d);
	return d.acked;
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

static int m_fetch(sios__adapter *a, const sios__sel *sel, sios_fetch_cb cb, void *ud)
{
	struct collect c = {0};
	cJSON *arr = cJSON_CreateArray();

	(void)a;
	if (!arr)
		return SIOS_ENOMEM;
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
		return SIOS_ENOMEM;
	}
	cb(0, arr, ud);
	cJSON_Delete(arr);
	return 0;
}

static int m_add(sios__adapter *a, const sios__sel *sel, const char *room)
{
	struct collect c = {0};
	int r = 0;

	sios__local_select(sel, collect_one, &c);
	for (size_t i = 0; i < c.n && !r; i++)
		r = a->ops->join(a, c.v[i], room);
	free(c.v);
	return c.oom ? SIOS_ENOMEM : r;
}

static int m_del(sios__adapter *a, const sios__sel *sel, const char *room)
{
	struct collect c = {0};

	sios__local_select(sel, collect_one, &c);
	for (size_t i = 0; i < c.n; i++)
		a->ops->leave(a, c.v[i], room);
	free(c.v);
	return c.oom ? SIOS_ENOMEM : 0;
}

static int m_disconnect(sios__adapter *a, const sios__sel *sel, int close)
{
	struct collect c = {0};

	(void)a;
	sios__local_select(sel, collect_one, &c);
	for (size_t i = 0; i < c.n; i++)
		sios__socket_disconnect(c.v[i], close);
	free(c.v);
	return c.oom ? SIOS_ENOMEM : 0;
}

static int m_server_side_emit(sios__adapter *a, const char *event, const cJSON *args)
{
	(void)a;
	(void)event;
	(void)args;
	return 0; /* no other server to tell */
}

static void m_free(sios__adapter *a) { free(a); }

static const struct sios__adapter_ops memory_ops = {
	.join = m_join,
	.leave = m_leave,
	.leave_all = m_leave_all,
	.broadcast = m_broadcast,
	.broadcast_with_ack = m_broadcast_with_ack,
	.fetch_sockets = m_fetch,
	.add_sockets = m_add,
	.del_sockets = m_del,
	.disconnect_sockets = m_disconnect,
	.server_side_emit = m_server_side_emit,
	.room_event = NULL,
	.free = m_free,
};

sios__adapter *sios__memory_adapter_new(struct sios_nsp *nsp)
{
	sios__adapter *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->ops = &memory_ops;
	a->nsp = nsp;
	return a;
}
