/* The room index, broadcast scopes and statistics. */
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

void sios__room_event(struct sios_nsp *nsp, int type, const char *room, const char *sid)
{
	struct sios_nsp *cfg = sios__cfg_nsp(nsp);

	if (nsp->adapter->ops->room_event)
		nsp->adapter->ops->room_event(nsp->adapter, type, room, sid);
	if (cfg->on_room)
		cfg->on_room(nsp, type, room, sid, cfg->room_ud);
}

/* ---- the local index ------------------------------------------------- */

static sios__member *find_member(const sios_socket *s, const char *room)
{
	if (s->room_idx)
		return sios__map_get(s->room_idx, room);
	for (sios__member *m = s->rooms; m; m = m->snext)
		if (!strcmp(m->room->name, room))
			return m;
	return NULL;
}

static void member_remove(sios_socket *s, sios__member *m);

/* past a few rooms a socket gets a hash index of them */
static int index_member(sios_socket *s, sios__member *m)
{
	if (!s->room_idx) {
		if (s->nrooms < SIOS__ROOM_INDEX_AT)
			return 0;
		if (!(s->room_idx = malloc(sizeof(*s->room_idx))))
			return SIOS_ENOMEM;
		sios__map_init(s->room_idx);
		for (sios__member *o = s->rooms; o; o = o->snext)
			if (sios__map_put(s->room_idx, o->room->name, o))
				return SIOS_ENOMEM;
	}
	return sios__map_put(s->room_idx, m->room->name, m) ? SIOS_ENOMEM : 0;
}

int sios__local_join(sios_socket *s, const char *name)
{
	struct sios_nsp *nsp = s->nsp;
	sios__room *room;
	sios__member *m;
	int created = 0;

	if (find_member(s, name))
		return 0;
	if (strlen(name) > nsp->srv->cfg.max_room_name ||
	    s->nrooms >= nsp->srv->cfg.max_socket_rooms) {
		sios__log_limited(SIOS__LOG_WARN, "socket %s: %s, join refused", s->id,
				  s->nrooms >= nsp->srv->cfg.max_socket_rooms
					  ? "in as many rooms as allowed"
					  : "room name longer than allowed");
		return SIOS_ETOOBIG;
	}
	room = sios__map_get(&nsp->rooms, name);
	if (!room) {
		room = calloc(1, sizeof(*room));
		if (!room || !(room->name = sios__strdup(name)) ||
		    sios__map_put(&nsp->rooms, room->name, room)) {
			if (room)
				free(room->name);
			free(room);
			return SIOS_ENOMEM;
		}
		created = 1;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		if (created) {
			sios__map_del(&nsp->rooms, room->name);
			free(room->name);
			free(room);
		}
		return SIOS_ENOMEM;
	}
	m->room = room;
	m->sock = s;
	m->rnext = room->head;
	if (room->head)
		room->head->rprev = m;
	room->head = m;
	room->count++;
	m->snext = s->rooms;
	if (s->rooms)
		s->rooms->sprev = m;
	s->rooms = m;
	s->nrooms++;
	if (index_member(s, m)) {
		member_remove(s, m);
		return SIOS_ENOMEM;
	}
	if (created)
		sios__room_event(nsp, SIOS_ROOM_CREATED, name, NULL);
	sios__room_event(nsp, SIOS_ROOM_JOINED, name, s->id);
	return 0;
}

static void member_remove(sios_socket *s, sios__member *m)
{
	struct sios_nsp *nsp = s->nsp;
	sios__room *room = m->room;

	if (s->room_idx && sios__map_get(s->room_idx, room->name) == m)
		sios__map_del(s->room_idx, room->name);
	if (m->sprev)
		m->sprev->snext = m->snext;
	else
		s->rooms = m->snext;
	if (m->snext)
		m->snext->sprev = m->sprev;
	s->nrooms--;
	if (m->rprev)
		m->rprev->rnext = m->rnext;
	else
		room->head = m->rnext;
	if (m->rnext)
		m->rnext->rprev = m->rprev;
	room->count--;
	free(m);
	sios__room_event(nsp, SIOS_ROOM_LEFT, room->name, s->id);
	if (!room->count) {
		sios__map_del(&nsp->rooms, room->name);
		sios__room_event(nsp, SIOS_ROOM_DELETED, room->name, NULL);
		free(room->name);
		free(room);
	}
}

int sios__local_leave(sios_socket *s, const char *name)
{
	sios__member *m = find_member(s, name);

	if (m)
		member_remove(s, m);
	return 0;
}

void sios__local_leave_all(sios_socket *s)
{
	while (s->rooms)
		member_remove(s, s->rooms);
	if (s->room_idx) {
		sios__map_free(s->room_idx);
		free(s->room_idx);
		s->room_idx = NULL;
	}
}

/* Marks excluded sockets with one epoch and visits the others once with
 * another: no allocation however many rooms overlap. */
size_t sios__local_select(const sios__sel *sel, void (*fn)(sios_socket *s, void *ud), void *ud)
{
	struct sios_nsp *nsp = sel->nsp;
	sios_server *srv = nsp->srv;
	uint64_t ex = ++srv->epoch, seen = ++srv->epoch;
	size_t n = 0;

	for (size_t i = 0; i < sel->nexcept; i++) {
		sios__room *r = sios__map_get(&nsp->rooms, sel->except[i]);

		for (sios__member *m = r ? r->head : NULL; m; m = m->rnext)
			m->sock->excluded = ex;
	}
	if (!sel->nrooms) {
		size_t it = 0;
		sios_socket *s;

		while ((s = sios__map_next(&nsp->sockets, &it))) {
			if (s->excluded == ex || s->state != SIOS__SOCK_CONNECTED)
				continue;
			n++;
			fn(s, ud);
		}
		return n;
	}
	for (size_t i = 0; i < sel->nrooms; i++) {
		sios__room *r = sios__map_get(&nsp->rooms, sel->rooms[i]);
		sios__member *m, *next;

		for (m = r ? r->head : NULL; m; m = next) {
			sios_socket *s = m->sock;

			next = m->rnext;
			if (s->excluded == ex || s->seen == seen || s->state != SIOS__SOCK_CONNECTED)
				continue;
			s->seen = seen;
			n++;
			fn(s, ud);
		}
	}
	return n;
}

int sios__local_deliver(sios_socket *s, sios__frame *f, unsigned flags)
{
	int r = sios__send_frame(s->client, f, (flags & SIOS_SCOPE_VOLATILE) ? SIOS__PUSH_VOLATILE : 0);

	if (r == 0)
		s->nsp->srv->broadcast_deliveries++;
	return r;
}

cJSON *sios__socket_describe(sios_socket *s)
{
	cJSON *o = cJSON_CreateObject(), *rooms = cJSON_CreateArray();
	const cJSON *hs = sios_socket_handshake(s);

	if (!o || !rooms || !hs) {
		cJSON_Delete(o);
		cJSON_Delete(rooms);
		return NULL;
	}
	cJSON_AddStringToObject(o, "id", s->id);
	for (sios__member *m = s->rooms; m; m = m->snext)
		cJSON_AddItemToArray(rooms, cJSON_CreateString(m->room->name));
	cJSON_AddItemToObject(o, "rooms", rooms);
	cJSON_AddItemToObject(o, "handshake", cJSON_Duplicate(hs, 1));
	return o;
}

/* ---- rooms: public --------------------------------------------------- */

SIOS_EXPORT int sios_socket_join(sios_socket *s, const char *room)
{
	if (s && SIOS__OFF_LOOP(&s->nsp->srv->loop))
		return SIOS_EMISUSE;
	if (!s || !room || !*room)
		return SIOS_EINVAL;
	if (s->state != SIOS__SOCK_CONNECTED)
		return SIOS_ECLOSED;
	return s->nsp->adapter->ops->join(s->nsp->adapter, s, room);
}

SIOS_EXPORT int sios_socket_leave(sios_socket *s, const char *room)
{
	if (s && SIOS__OFF_LOOP(&s->nsp->srv->loop))
		return SIOS_EMISUSE;
	if (!s || !room)
		return SIOS_EINVAL;
	if (s->state != SIOS__SOCK_CONNECTED)
		return SIOS_ECLOSED;
	return s->nsp->adapter->ops->leave(s->nsp->adapter, s, room);
}

SIOS_EXPORT int sios_socket_join_rooms(sios_socket *s, const char *const *rooms, size_t n)
{
	if (s && SIOS__OFF_LOOP(&s->nsp->srv->loop))
		return SIOS_EMISUSE;
	int r = 0;

	if (!s || (n && !rooms))
		return SIOS_EINVAL;
	for (size_t i = 0; i < n && !r; i++)
		r = sios_socket_join(s, rooms[i]);
	return r;
}

SIOS_EXPORT int sios_socket_leave_rooms(sios_socket *s, const char *const *rooms, size_t n)
{
	if (s && SIOS__OFF_LOOP(&s->nsp->srv->loop))
		return SIOS_EMISUSE;
	int r = 0;

	if (!s || (n && !rooms))
		return SIOS_EINVAL;
	for (size_t i = 0; i < n && !r; i++)
		r = sios_socket_leave(s, rooms[i]);
	return r;
}

SIOS_EXPORT size_t sios_socket_rooms(const sios_socket *s, sios_room_cb cb, void *ud)
{
	size_t n = 0;

	if (!s)
		return 0;
	for (sios__member *m = s->rooms; m; m = m->snext, n++)
		if (cb)
			cb(m->room->name, ud);
	return n;
}

SIOS_EXPORT int sios_socket_in_room(const sios_socket *s, const char *room)
{
	return s && room && find_member(s, room) != NULL;
}

SIOS_EXPORT size_t sios_room_sockets(sios_nsp *nsp, const char *room, sios_socket_each_cb cb,
				    void *ud)
{
	sios__room *r;
	sios_socket **v;
	size_t n = 0, count;

	if (!nsp || !room || !(r = sios__map_get(&nsp->rooms, room)))
		return 0;
	count = r->count;
	if (!cb)
		return count;
	/* collected first: the callback may make sockets join, leave or go */
	v = malloc(count * sizeof(*v));
	if (!v)
		return 0;
	for (sios__member *m = r->head; m; m = m->rnext)
		v[n++] = m->sock;
	sios__core_enter(nsp->srv); /* handles stay allocated meanwhile */
	for (size_t i = 0; i < n; i++)
		if (v[i]->state == SIOS__SOCK_CONNECTED)
			cb(v[i], ud);
	sios__core_leave(nsp->srv);
	free(v);
	return n;
}

/* ---- scopes ---------------------------------------------------------- */

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
	r = sios__encode_message(&f, 0, 0, nsp->name, -1, event, args, bins, nbins);
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
	r = sios__encode_message(&f, 0, 0, nsp->name, id, event, args, bins, nbins);
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


/* ---- statistics ------------------------------------------------------ */

SIOS_EXPORT int sios_server_stats(const sios_server *srv, sios_stats *out, size_t size)
{
	sios_stats st;
	const sios__engine_stats *e;

	if (!srv || !out || size == 0)
		return SIOS_EINVAL;
	e = &srv->eng.stats;
	memset(&st, 0, sizeof(st));
	st.connections = srv->eng.nsessions;
	st.sessions_opened = e->sessions_opened;
	st.sessions_closed = e->sessions_closed;
	st.sockets = srv->nsockets;
	st.packets_in = e->packets_in;
	st.bytes_in = e->bytes_in;
	st.packets_out = e->packets_out;
	st.bytes_out = e->bytes_out;
	st.packets_encoded = srv->packets_encoded;
	st.broadcasts = srv->broadcasts;
	st.broadcast_deliveries = srv->broadcast_deliveries;
	st.volatile_drops = e->volatile_drops;
	st.refused_connections = e->refused_connections;
	st.drops = e->drops;
	st.slow_consumer_disconnects = e->slow_consumer_disconnects;
	memcpy(out, &st, size < sizeof(st) ? size : sizeof(st));
	return 0;
}
