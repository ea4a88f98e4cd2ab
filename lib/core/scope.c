/* Broadcast scopes (io.to(room).except(room)): what they select, and what
 * is done to the selection through the namespace's adapter: emits (with
 * or without acks), fetch, join, leave, disconnect; sios_room_emit without
 * a scope. Server-side events and other cluster requests: cluster.c. */
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

struct sios_scope {
	sios__sel sel;
};

SIOS_EXPORT int sios_scope_new(sios_nsp *nsp, sios_scope **out)
{
	sios_scope *sc;

	if (nsp && SIOS__OFF_LOOP(&nsp->srv->loop))
		return SIOS_EMISUSE;
	if (!nsp || !out || nsp->is_pattern)
		return SIOS_EINVAL;
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		return SIOS_ENOMEM;
	sc->sel.nsp = nsp;
	*out = sc;
	return 0;
}

SIOS_EXPORT int sios_scope_from_socket(sios_socket *s, sios_scope **out)
{
	int r;

	if (s && SIOS__OFF_LOOP(&s->nsp->srv->loop))
		return SIOS_EMISUSE;
	if (!s || !out)
		return SIOS_EINVAL;
	r = sios_scope_new(s->nsp, out);
	if (!r && (r = sios__strv_add(&(*out)->sel.except, &(*out)->sel.nexcept, s->id, 1))) {
		sios_scope_free(*out);
		*out = NULL;
	}
	return r;
}

SIOS_EXPORT void sios_scope_free(sios_scope *sc)
{
	if (!sc)
		return;
	sios__strv_free(&sc->sel.rooms, &sc->sel.nrooms);
	sios__strv_free(&sc->sel.except, &sc->sel.nexcept);
	free(sc);
}

SIOS_EXPORT int sios_scope_to(sios_scope *sc, const char *room)
{
	if (!sc || !room || !*room)
		return SIOS_EINVAL;
	return sios__strv_add(&sc->sel.rooms, &sc->sel.nrooms, room, 1);
}

SIOS_EXPORT int sios_scope_except(sios_scope *sc, const char *room)
{
	if (!sc || !room || !*room)
		return SIOS_EINVAL;
	return sios__strv_add(&sc->sel.except, &sc->sel.nexcept, room, 1);
}

SIOS_EXPORT int sios_scope_set_flags(sios_scope *sc, unsigned flags)
{
	if (!sc || (flags & ~(SIOS_SCOPE_VOLATILE | SIOS_SCOPE_COMPRESS | SIOS_SCOPE_LOCAL)))
		return SIOS_EINVAL;
	sc->sel.flags = flags;
	return 0;
}

SIOS_EXPORT int sios_scope_set_timeout(sios_scope *sc, unsigned ms)
{
	if (!sc)
		return SIOS_EINVAL;
	sc->sel.timeout_ms = ms;
	return 0;
}

/* every emit: one packet, encoded when a first recipient needs it */
static void bpacket_init(sios__bpacket *p, struct sios_nsp *nsp, const char *event,
			 const cJSON *args, const sios_binary *bins, size_t nbins, long long id)
{
	memset(p, 0, sizeof(*p));
	p->nsp = nsp;
	p->event = event;
	p->args = args;
	p->bins = bins;
	p->nbins = nbins;
	p->ack_id = id;
}

static int emit_sel(const sios__sel *sel, const char *event, const cJSON *args,
		    const sios_binary *bins, size_t nbins)
{
	struct sios_nsp *nsp = sel->nsp;
	sios__bpacket p;
	int r;

	bpacket_init(&p, nsp, event, args, bins, nbins, -1);
	nsp->srv->broadcasts++;
	sios__core_enter(nsp->srv);
	r = nsp->adapter->ops->broadcast(nsp->adapter, sel, &p);
	sios__core_leave(nsp->srv);
	sios__bpacket_clear(&p);
	return r;
}

SIOS_EXPORT int sios_scope_emit(sios_scope *sc, const char *event, const cJSON *args,
				const sios_binary *bins, size_t nbins)
{
	if (sc && SIOS__OFF_LOOP(&sc->sel.nsp->srv->loop))
		return SIOS_EMISUSE;
	if (!sc || !sios__emit_ok(event, bins, nbins) || (args && !cJSON_IsArray(args)))
		return SIOS_EINVAL;
	return emit_sel(&sc->sel, event, args, bins, nbins);
}

SIOS_EXPORT int sios_room_emit(sios_nsp *nsp, const char *room, const char *event,
			       const cJSON *args, const sios_binary *bins, size_t nbins)
{
	char *rooms[1] = {(char *)room};
	sios__sel sel;

	if (nsp && SIOS__OFF_LOOP(&nsp->srv->loop))
		return SIOS_EMISUSE;
	if (!nsp || (room && !*room) || !sios__emit_ok(event, bins, nbins) ||
	    (args && !cJSON_IsArray(args)))
		return SIOS_EINVAL;
	if (nsp->is_pattern)
		return SIOS_EINVAL; /* a parent of dynamic namespaces has no sockets */
	memset(&sel, 0, sizeof(sel));
	sel.nsp = nsp;
	sel.rooms = room ? rooms : NULL;
	sel.nrooms = room ? 1 : 0;
	return emit_sel(&sel, event, args, bins, nbins);
}

SIOS_EXPORT int sios_scope_emit_with_ack(sios_scope *sc, const char *event, const cJSON *args,
					 const sios_binary *bins, size_t nbins,
					 sios_broadcast_ack_cb cb, void *ud)
{
	struct sios_nsp *nsp;
	struct sios__bcast_ack *b;
	sios__bpacket p;
	int r;

	if (sc && SIOS__OFF_LOOP(&sc->sel.nsp->srv->loop))
		return SIOS_EMISUSE;
	if (!sc || !cb || !sios__emit_ok(event, bins, nbins) || (args && !cJSON_IsArray(args)))
		return SIOS_EINVAL;
	nsp = sc->sel.nsp;
	bpacket_init(&p, nsp, event, args, bins, nbins, nsp->next_ack++);
	b = sios__bcast_ack_new(nsp->srv, cb, ud, sc->sel.timeout_ms);
	if (!b)
		return SIOS_ENOMEM;
	nsp->srv->broadcasts++;
	sios__core_enter(nsp->srv);
	sios__bcast_ack_ref(b); /* it may complete inside the operation */
	r = nsp->adapter->ops->broadcast_with_ack(nsp->adapter, &sc->sel, &p, b);
	sios__bpacket_clear(&p);
	if (r) /* nothing went out (the packet cannot be encoded): no callback */
		sios__bcast_ack_cancel(b);
	sios__bcast_ack_unref(b);
	sios__core_leave(nsp->srv);
	return r;
}

/* what a cluster request waits for when the scope sets no timeout */
#define REQUEST_TIMEOUT_MS 5000

struct fetch_req {
	sios_fetch_cb cb;
	void *ud;
};

static void fetch_done(int status, const cJSON *sockets, void *ud)
{
	struct fetch_req q = *(struct fetch_req *)ud;

	free(ud);
	q.cb(status, sockets, q.ud);
}

SIOS_EXPORT int sios_scope_fetch_sockets(sios_scope *sc, sios_fetch_cb cb, void *ud)
{
	struct sios_nsp *nsp;
	struct fetch_req *q;
	int r;

	if (sc && SIOS__OFF_LOOP(&sc->sel.nsp->srv->loop))
		return SIOS_EMISUSE;
	if (!sc || !cb)
		return SIOS_EINVAL;
	if (!(q = malloc(sizeof(*q))))
		return SIOS_ENOMEM;
	q->cb = cb;
	q->ud = ud;
	nsp = sc->sel.nsp;
	sios__core_enter(nsp->srv);
	r = nsp->adapter->ops->fetch_sockets(nsp->adapter, &sc->sel,
					     sc->sel.timeout_ms ? sc->sel.timeout_ms
								: REQUEST_TIMEOUT_MS,
					     fetch_done, q);
	if (r)
		free(q); /* refused: the callback will not run */
	sios__core_leave(nsp->srv);
	return r;
}

SIOS_EXPORT int sios_scope_join(sios_scope *sc, const char *room)
{
	int r;

	if (sc && SIOS__OFF_LOOP(&sc->sel.nsp->srv->loop))
		return SIOS_EMISUSE;
	if (!sc || !room || !*room)
		return SIOS_EINVAL;
	sios__core_enter(sc->sel.nsp->srv);
	r = sc->sel.nsp->adapter->ops->add_sockets(sc->sel.nsp->adapter, &sc->sel, &room, 1);
	sios__core_leave(sc->sel.nsp->srv);
	return r;
}

SIOS_EXPORT int sios_scope_leave(sios_scope *sc, const char *room)
{
	int r;

	if (sc && SIOS__OFF_LOOP(&sc->sel.nsp->srv->loop))
		return SIOS_EMISUSE;
	if (!sc || !room || !*room)
		return SIOS_EINVAL;
	sios__core_enter(sc->sel.nsp->srv);
	r = sc->sel.nsp->adapter->ops->del_sockets(sc->sel.nsp->adapter, &sc->sel, &room, 1);
	sios__core_leave(sc->sel.nsp->srv);
	return r;
}

SIOS_EXPORT int sios_scope_disconnect(sios_scope *sc, int close_connection)
{
	int r;

	if (sc && SIOS__OFF_LOOP(&sc->sel.nsp->srv->loop))
		return SIOS_EMISUSE;
	if (!sc)
		return SIOS_EINVAL;
	sios__core_enter(sc->sel.nsp->srv);
	r = sc->sel.nsp->adapter->ops->disconnect_sockets(sc->sel.nsp->adapter, &sc->sel,
							  close_connection);
	sios__core_leave(sc->sel.nsp->srv);
	return r;
}
