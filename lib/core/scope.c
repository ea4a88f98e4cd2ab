/* Broadcast scopes (io.to(room).except(room)): what they select, and what
 * is done to the selection through the namespace's adapter: emits (with
 * or without acks), fetch, join, leave, disconnect; sios_room_emit without
 * a scope; server-side emits to the other servers. */
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

struct sios_scope {
	sios__sel sel;
};

SIOS_EXPORT int sios_scope_new(sios_nsp *nsp, sios_scope **out)
{
	if (nsp && SIOS__OFF_LOOP(&nsp->srv->loop))
		return SIOS_EMISUSE;
	sios_scope *sc;

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
	if (s && SIOS__OFF_LOOP(&s->nsp->srv->loop))
		return SIOS_EMISUSE;
	int r;

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

static int emit_sel(const sios__sel *sel, const char *event, const cJSON *args,
		    const sios_binary *bins, size_t nbins)
{
	struct sios_nsp *nsp = sel->nsp;
	sios__frame f;
	int r;

	/* encoded once; every recipient queues a reference */
	r = sios__encode_message(&f, 0, nsp->name, -1, event, args, bins, nbins);
	if (r)
		return r;
	nsp->srv->packets_encoded++;
	nsp->srv->broadcasts++;
	sios__core_enter(nsp->srv);
	r = nsp->adapter->ops->broadcast(nsp->adapter, sel, &f);
	sios__core_leave(nsp->srv);
	sios__frame_clear(&f);
	return r;
}

SIOS_EXPORT int sios_scope_emit(sios_scope *sc, const char *event, const cJSON *args,
				const sios_binary *bins, size_t nbins)
{
	if (sc && SIOS__OFF_LOOP(&sc->sel.nsp->srv->loop))
		return SIOS_EMISUSE;
	if (!sc || !sios__emit_ok(event, bins, nbins))
		return SIOS_EINVAL;
	return emit_sel(&sc->sel, event, args, bins, nbins);
}

SIOS_EXPORT int sios_room_emit(sios_nsp *nsp, const char *room, const char *event,
			       const cJSON *args, const sios_binary *bins, size_t nbins)
{
	if (nsp && SIOS__OFF_LOOP(&nsp->srv->loop))
		return SIOS_EMISUSE;
	char *rooms[1] = {(char *)room};
	sios__sel sel;

	if (!nsp || (room && !*room) || !sios__emit_ok(event, bins, nbins))
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
	if (sc && SIOS__OFF_LOOP(&sc->sel.nsp->srv->loop))
		return SIOS_EMISUSE;
	struct sios_nsp *nsp;
	struct sios__bcast_ack *b;
	sios__frame f;
	long long id;
	size_t n;
	int r;

	if (!sc || !cb || !sios__emit_ok(event, bins, nbins))
		return SIOS_EINVAL;
	nsp = sc->sel.nsp;
	id = nsp->next_ack++;
	r = sios__encode_message(&f, 0, nsp->name, id, event, args, bins, nbins);
	if (r)
		return r;
	b = sios__bcast_ack_new(nsp->srv, cb, ud);
	if (!b) {
		sios__frame_clear(&f);
		return SIOS_ENOMEM;
	}
	nsp->srv->packets_encoded++;
	nsp->srv->broadcasts++;
	sios__core_enter(nsp->srv);
	n = nsp->adapter->ops->broadcast_with_ack(nsp->adapter, &sc->sel, &f, id, b);
	sios__frame_clear(&f);
	sios__bcast_ack_start(b, n, sc->sel.timeout_ms);
	sios__core_leave(nsp->srv);
	return 0;
}

SIOS_EXPORT int sios_scope_fetch_sockets(sios_scope *sc, sios_fetch_cb cb, void *ud)
{
	if (sc && SIOS__OFF_LOOP(&sc->sel.nsp->srv->loop))
		return SIOS_EMISUSE;
	int r;

	if (!sc || !cb)
		return SIOS_EINVAL;
	sios__core_enter(sc->sel.nsp->srv);
	r = sc->sel.nsp->adapter->ops->fetch_sockets(sc->sel.nsp->adapter, &sc->sel, cb, ud);
	sios__core_leave(sc->sel.nsp->srv);
	return r;
}

SIOS_EXPORT int sios_scope_join(sios_scope *sc, const char *room)
{
	if (sc && SIOS__OFF_LOOP(&sc->sel.nsp->srv->loop))
		return SIOS_EMISUSE;
	int r;

	if (!sc || !room || !*room)
		return SIOS_EINVAL;
	sios__core_enter(sc->sel.nsp->srv);
	r = sc->sel.nsp->adapter->ops->add_sockets(sc->sel.nsp->adapter, &sc->sel, room);
	sios__core_leave(sc->sel.nsp->srv);
	return r;
}

SIOS_EXPORT int sios_scope_leave(sios_scope *sc, const char *room)
{
	if (sc && SIOS__OFF_LOOP(&sc->sel.nsp->srv->loop))
		return SIOS_EMISUSE;
	int r;

	if (!sc || !room || !*room)
		return SIOS_EINVAL;
	sios__core_enter(sc->sel.nsp->srv);
	r = sc->sel.nsp->adapter->ops->del_sockets(sc->sel.nsp->adapter, &sc->sel, room);
	sios__core_leave(sc->sel.nsp->srv);
	return r;
}

SIOS_EXPORT int sios_scope_disconnect(sios_scope *sc, int close_connection)
{
	if (sc && SIOS__OFF_LOOP(&sc->sel.nsp->srv->loop))
		return SIOS_EMISUSE;
	int r;

	if (!sc)
		return SIOS_EINVAL;
	sios__core_enter(sc->sel.nsp->srv);
	r = sc->sel.nsp->adapter->ops->disconnect_sockets(sc->sel.nsp->adapter, &sc->sel,
							  close_connection);
	sios__core_leave(sc->sel.nsp->srv);
	return r;
}

SIOS_EXPORT int sios_server_side_emit(sios_nsp *nsp, const char *event, const cJSON *args)
{
	if (nsp && SIOS__OFF_LOOP(&nsp->srv->loop))
		return SIOS_EMISUSE;
	if (!nsp || !sios__emit_ok(event, NULL, 0) || (args && !cJSON_IsArray(args)))
		return SIOS_EINVAL;
	return nsp->adapter->ops->server_side_emit(nsp->adapter, event, args);
}
