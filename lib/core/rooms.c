/* The room index: a namespace's rooms (name -> members) and each socket's
 * rooms, joined and left through the adapter, selected and delivered to
 * locally; the public calls on a socket's rooms. */
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

/* a room was created, joined, left or deleted: the application hears of it */
static void room_event(struct sios_nsp *nsp, int type, const char *room, const char *sid)
{
	struct sios_nsp *cfg = sios__cfg_nsp(nsp);

	if (cfg->on_room)
		cfg->on_room(nsp, type, room, sid, cfg->room_ud);
}

/* ---- the local index ------------------------------------------------- */

/* A socket in more rooms than this gets a hash index of its rooms: join,
 * leave and membership stay O(1) however many rooms it is in. */
#define ROOM_INDEX_AT 8

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
		if (s->nrooms < ROOM_INDEX_AT)
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
		room_event(nsp, SIOS_ROOM_CREATED, name, NULL);
	room_event(nsp, SIOS_ROOM_JOINED, name, s->id);
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
	room_event(nsp, SIOS_ROOM_LEFT, room->name, s->id);
	if (!room->count) {
		sios__map_del(&nsp->rooms, room->name);
		room_event(nsp, SIOS_ROOM_DELETED, room->name, NULL);
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
	int r = 0;

	if (s && SIOS__OFF_LOOP(&s->nsp->srv->loop))
		return SIOS_EMISUSE;
	if (!s || (n && !rooms))
		return SIOS_EINVAL;
	for (size_t i = 0; i < n && !r; i++)
		r = sios_socket_join(s, rooms[i]);
	return r;
}

SIOS_EXPORT int sios_socket_leave_rooms(sios_socket *s, const char *const *rooms, size_t n)
{
	int r = 0;

	if (s && SIOS__OFF_LOOP(&s->nsp->srv->loop))
		return SIOS_EMISUSE;
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
