/* Sockets: one per namespace a client joins. Their lifecycle (connecting
 * through the middleware, connected, gone), the middleware's sios_next,
 * and the public calls on a socket: handlers, emits, accessors. */
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

/* the middleware in progress for a connecting socket (s->next) */
struct sios_next {
	sios_socket *sock;
	struct sios__mw *mw; /* the middleware running */
};

/* ---- connection state recovery ----------------------------------------- */

static void rec_clear(sios_socket *s)
{
	sios__strv_free(&s->rec_rooms, &s->nrec_rooms);
	for (size_t i = 0; i < s->nrec_missed; i++)
		sios__frame_clear(&s->rec_missed[i]);
	free(s->rec_missed);
	s->rec_missed = NULL;
	s->nrec_missed = 0;
}

static void run_middleware(sios_socket *s, struct sios__mw *m);

/* the adapter found the session (st) or not (NULL), now or later: the
 * socket takes its id, rooms and missed packets, which it gets as it
 * connects, and goes on to the middleware (or past it) */
static void restored(int status, const sios__session_state *st, sios__frame *const *missed,
		     size_t nmissed, void *ud)
{
	sios_socket *s = ud;
	sios_server *srv = s->nsp->srv;
	int found = 0;

	sios__core_enter(srv);
	s->held = 0;
	if (s->state != SIOS__SOCK_CONNECTING) {
		if (!s->next)
			sios__bury_socket(s); /* its client left meanwhile */
		sios__core_leave(srv);
		return;
	}
	if (!status && st && !sios__map_get(&s->nsp->sockets, st->sid) &&
	    sios__strv_copy(&s->rec_rooms, &s->nrec_rooms, st->rooms, st->nrooms) == 0) {
		if (nmissed && (s->rec_missed = calloc(nmissed, sizeof(*s->rec_missed))))
			for (size_t i = 0; i < nmissed; i++)
				if (sios__frame_copy(&s->rec_missed[s->nrec_missed], missed[i]) == 0)
					s->nrec_missed++;
		memcpy(s->id, st->sid, sizeof(s->id));
		memcpy(s->pid, st->pid, sizeof(s->pid));
		s->recovered = 1;
		found = 1;
	}
	/* (else unknown, expired, or its id in use again: a new socket) */
	run_middleware(s, found && srv->cfg.recovery_skip_mw ? NULL
							     : sios__cfg_nsp(s->nsp)->mw);
	sios__core_leave(srv);
}

/* A socket that leaves for a reason it may come back from leaves its
 * session with the adapter (Node's RECOVERABLE_DISCONNECT_REASONS) */
static void add_room_to(const char *room, void *ud)
{
	sios__session_state *st = ud;

	sios__strv_add(&st->rooms, &st->nrooms, room, 0);
}

static void persist(sios_socket *s, int reason)
{
	sios__session_state st;

	if (!s->nsp->srv->cfg.recovery_ms || !s->pid[0] ||
	    (reason != SIOS_REASON_TRANSPORT_CLOSE && reason != SIOS_REASON_TRANSPORT_ERROR &&
	     reason != SIOS_REASON_PING_TIMEOUT && reason != SIOS_REASON_FORCED_CLOSE &&
	     reason != SIOS_REASON_SERVER_SHUTDOWN))
		return;
	memset(&st, 0, sizeof(st));
	memcpy(st.pid, s->pid, sizeof(st.pid));
	memcpy(st.sid, s->id, sizeof(st.sid));
	sios_socket_rooms(s, add_room_to, &st);
	st.gone_at = sios__wall_ms();
	s->nsp->adapter->ops->persist_session(s->nsp->adapter, &st);
	sios__strv_free(&st.rooms, &st.nrooms);
}

/* ---- lifecycle ------------------------------------------------------- */

static void socket_connected(sios_socket *s)
{
	sios__client *c = s->client;
	struct sios_nsp *nsp = s->nsp, *cfg = sios__cfg_nsp(nsp);
	cJSON *reply;

	if (sios__map_put(&nsp->sockets, s->id, s)) {
		sios__protocol_error(c, "out of memory");
		return;
	}
	s->state = SIOS__SOCK_CONNECTED;
	c->srv->nsockets++;
	if (!c->joined) {
		c->joined = 1;
		sios__loop_timer_cancel(&c->srv->loop, &c->connect_t);
	}
	nsp->adapter->ops->join(nsp->adapter, s, s->id);
	/* a socket that came back is in its rooms again at once */
	for (size_t i = 0; i < s->nrec_rooms; i++)
		if (strcmp(s->rec_rooms[i], s->id))
			nsp->adapter->ops->join(nsp->adapter, s, s->rec_rooms[i]);
	if (cfg->watch.connected)
		cfg->watch.connected(cfg->watch.ud, s);
	/* the CONNECT reply goes out before anything the handler emits; with
	 * recovery it names the private id the client keeps */
	if (c->srv->cfg.recovery_ms && !s->pid[0])
		sios__id(s->pid);
	reply = cJSON_CreateObject();
	cJSON_AddStringToObject(reply, "sid", s->id);
	if (s->pid[0])
		cJSON_AddStringToObject(reply, "pid", s->pid);
	sios__send_simple(c, SIOS__P_CONNECT, nsp->name, reply);
	cJSON_Delete(reply);
	/* then what it missed, in order, before anything new */
	for (size_t i = 0; i < s->nrec_missed; i++)
		sios__local_deliver(s, &s->rec_missed[i], 0);
	rec_clear(s);
	if (cfg->on_conn)
		cfg->on_conn(s, cfg->conn_ud);
}

/* a socket refused by middleware, or whose client left while connecting */
static void socket_abandon(sios_socket *s)
{
	struct sios_nsp *cfg = sios__cfg_nsp(s->nsp);

	if (s->state == SIOS__SOCK_CONNECTING && cfg->watch.gone)
		cfg->watch.gone(cfg->watch.ud, s); /* it may have named its user */
	if (s->state == SIOS__SOCK_CONNECTING) {
		s->state = SIOS__SOCK_GONE;
		if (!s->client_gone)
			sios__client_unlink(s->client, s);
		sios__bury_socket(s);
	}
}

static void run_middleware(sios_socket *s, struct sios__mw *m)
{
	struct sios_next *nx;

	if (!m) {
		struct sios_nsp *cfg = sios__cfg_nsp(s->nsp);

		if (cfg->watch.connecting && cfg->watch.connecting(cfg->watch.ud, s)) {
			s->held = 1; /* sios__socket_proceed() comes later */
			return;
		}
		socket_connected(s);
		return;
	}
	nx = calloc(1, sizeof(*nx));
	if (!nx) {
		sios__send_connect_error(s->client, s->nsp->name, "out of memory", NULL);
		socket_abandon(s);
		return;
	}
	nx->sock = s;
	nx->mw = m;
	s->next = nx;
	m->cb(s, nx, m->ud);
}

/* A CONNECT to nsp: the socket is made and goes through the middleware.
 * Takes *auth (and sets it NULL) unless out of memory. */
int sios__socket_open(sios__client *c, struct sios_nsp *nsp, cJSON **auth)
{
	sios_socket *s = calloc(1, sizeof(*s));

	if (!s)
		return SIOS_ENOMEM;
	do
		sios__id(s->id);
	while (sios__map_get(&nsp->sockets, s->id));
	s->nsp = nsp;
	s->client = c;
	s->auth = *auth;
	*auth = NULL;
	s->created = sios__wall_ms();
	s->state = SIOS__SOCK_CONNECTING;
	nsp->members++;
	s->client_next = c->sockets;
	c->sockets = s;
	c->nsockets++;
	if (c->srv->cfg.recovery_ms) {
		/* a client coming back names its session and the last packet
		 * it got (socket.io-client puts them in the auth); the adapter
		 * answers now or later (from Redis), and the socket waits */
		const cJSON *pid = cJSON_GetObjectItemCaseSensitive(s->auth, "pid");
		const cJSON *off = cJSON_GetObjectItemCaseSensitive(s->auth, "offset");

		if (cJSON_IsString(pid) && cJSON_IsString(off) &&
		    strlen(pid->valuestring) == SIOS__ID_LEN) {
			s->held = 1;
			if (nsp->adapter->ops->restore_session(nsp->adapter, pid->valuestring,
							       off->valuestring, restored, s) == 0)
				return 0;
			s->held = 0;
		}
	}
	run_middleware(s, sios__cfg_nsp(nsp)->mw);
	return 0;
}

/* ends a next: its socket, and in *gone whether the socket left meanwhile */
static sios_socket *next_take(sios_next *nx, int *gone)
{
	sios_socket *s = nx->sock;

	*gone = s->state != SIOS__SOCK_CONNECTING;
	s->next = NULL;
	free(nx);
	return s;
}

SIOS_EXPORT int sios_next_accept(sios_next *nx)
{
	sios_socket *s;
	sios_server *srv;
	struct sios__mw *m;
	int gone;

	if (nx && SIOS__OFF_LOOP(&nx->sock->nsp->srv->loop))
		return SIOS_EMISUSE;
	if (!nx)
		return SIOS_EINVAL;
	m = nx->mw->next;
	s = next_take(nx, &gone);
	srv = s->nsp->srv;
	sios__core_enter(srv);
	if (gone) {
		sios__bury_socket(s); /* its client left while the middleware held it */
		sios__core_leave(srv);
		return SIOS_ECLOSED;
	}
	run_middleware(s, m);
	sios__core_leave(srv);
	return 0;
}

SIOS_EXPORT int sios_next_reject(sios_next *nx, const char *message, const cJSON *data)
{
	sios_socket *s;
	sios_server *srv;
	int gone;

	if (nx && SIOS__OFF_LOOP(&nx->sock->nsp->srv->loop))
		return SIOS_EMISUSE;
	if (!nx)
		return SIOS_EINVAL;
	s = next_take(nx, &gone);
	srv = s->nsp->srv;
	sios__core_enter(srv);
	if (!gone)
		sios__send_connect_error(s->client, s->nsp->name, message, data);
	if (s->state == SIOS__SOCK_CONNECTING) {
		socket_abandon(s);
	} else if (s->state == SIOS__SOCK_GONE) {
		sios__bury_socket(s);
	}
	sios__core_leave(srv);
	return gone ? SIOS_ECLOSED : 0;
}

/* A connected socket goes: the disconnecting callback (still in its
 * rooms), out of its rooms and its client, the disconnect callbacks, then
 * what it is owed fails. */
void sios__socket_gone(sios_socket *s, int reason)
{
	sios_server *srv = s->nsp->srv;
	struct sios_nsp *cfg = sios__cfg_nsp(s->nsp);

	if (s->state != SIOS__SOCK_CONNECTED)
		return;
	sios__core_enter(srv);
	/* "disconnecting": still in its rooms */
	if (cfg->on_disconnecting)
		cfg->on_disconnecting(s, reason, cfg->disconnecting_ud);
	persist(s, reason);
	s->state = SIOS__SOCK_GONE;
	srv->nsockets--;
	s->nsp->adapter->ops->leave_all(s->nsp->adapter, s);
	sios__map_del(&s->nsp->sockets, s->id);
	sios__client_unlink(s->client, s);
	if (s->on_disc)
		s->on_disc(s, reason, s->disc_ud);
	if (cfg->on_disc)
		cfg->on_disc(s, reason, cfg->disc_ud);
	if (cfg->watch.gone)
		cfg->watch.gone(cfg->watch.ud, s);
	sios__acks_fail(s);
	sios__bury_socket(s);
	sios__core_leave(srv);
}

/* The socket's connection closed: a connected socket goes; one still in
 * its middleware is marked gone, and its sios_next finds out. Its client
 * may be freed from now on. */
void sios__socket_client_closed(sios_socket *s, int reason)
{
	if (s->state == SIOS__SOCK_CONNECTED) {
		sios__socket_gone(s, reason);
	} else if (s->state == SIOS__SOCK_CONNECTING) {
		struct sios_nsp *cfg = sios__cfg_nsp(s->nsp);

		/* a held socket is the watcher's until it proceeds; rooms it
		 * joined meanwhile (its user's) must not reach its client */
		if (!s->held && cfg->watch.gone)
			cfg->watch.gone(cfg->watch.ud, s);
		if (s->held)
			s->nsp->adapter->ops->leave_all(s->nsp->adapter, s);
		s->state = SIOS__SOCK_GONE;
		if (!s->next && !s->held)
			sios__bury_socket(s);
	}
	s->client_gone = 1;
}

int sios__socket_proceed(sios_socket *s)
{
	sios_server *srv = s->nsp->srv;

	if (!s->held)
		return SIOS_EMISUSE;
	s->held = 0;
	sios__core_enter(srv);
	if (s->state != SIOS__SOCK_CONNECTING) {
		sios__bury_socket(s); /* its client left while it was held */
		sios__core_leave(srv);
		return SIOS_ECLOSED;
	}
	socket_connected(s);
	sios__core_leave(srv);
	return 0;
}

/* frees a buried socket, when the reaper comes */
void sios__socket_free(sios_socket *s)
{
	sios__handlers_free(s->handlers);
	while (s->emw) {
		struct sios__emw *m = s->emw;

		s->emw = m->next;
		free(m);
	}
	rec_clear(s);
	cJSON_Delete(s->auth);
	cJSON_Delete(s->handshake);
	free(s);
}

int sios__socket_disconnect(sios_socket *s, int close_connection)
{
	sios_server *srv;
	sios__client *c;

	if (!s)
		return SIOS_EINVAL;
	if (s->state != SIOS__SOCK_CONNECTED)
		return SIOS_ECLOSED;
	srv = s->nsp->srv;
	c = s->client;
	sios__core_enter(srv);
	sios__send_simple(c, SIOS__P_DISCONNECT, s->nsp->name, NULL);
	sios__socket_gone(s, SIOS_REASON_SERVER_NAMESPACE_DISCONNECT);
	if (close_connection && !c->closed)
		sios_eio_close(c->conn);
	sios__core_leave(srv);
	return 0;
}

SIOS_EXPORT int sios_socket_disconnect(sios_socket *s, int close_connection)
{
	if (s && SIOS__OFF_LOOP(&s->nsp->srv->loop))
		return SIOS_EMISUSE;
	return sios__socket_disconnect(s, close_connection);
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

/* ---- sending --------------------------------------------------------- */

/* Encodes an EVENT (or, is_ack, an ACK) for the socket's namespace and
 * queues it on its connection; flags: SIOS__PUSH_*. */
int sios__socket_send(sios_socket *s, int is_ack, long long id, const char *event,
		      const cJSON *args, const sios_binary *bins, size_t nbins, unsigned flags)
{
	sios__frame f;
	int r = sios__encode_message(&f, is_ack, s->nsp->name, id, event, args, bins, nbins);

	if (r)
		return r;
	s->nsp->srv->packets_encoded++;
	r = sios__send_frame(s->client, &f, flags);
	sios__frame_clear(&f);
	return r;
}

static int emit_flags(sios_socket *s, const char *event, const cJSON *args,
		      const sios_binary *bins, size_t nbins, unsigned flags)
{
	if (s && SIOS__OFF_LOOP(&s->nsp->srv->loop))
		return SIOS_EMISUSE;
	if (!s || !sios__emit_ok(event, bins, nbins))
		return SIOS_EINVAL;
	if (s->state != SIOS__SOCK_CONNECTED)
		return SIOS_ECLOSED;
	if (s->nsp->srv->cfg.recovery_ms && !(flags & SIOS__PUSH_VOLATILE)) {
		/* as Node: through the adapter, to the socket's own room, so the
		 * packet gets an offset and is kept for a client that comes back */
		char *rooms[1] = {s->id};
		sios__sel sel;
		sios__bpacket p;
		int r;

		memset(&sel, 0, sizeof(sel));
		sel.nsp = s->nsp;
		sel.rooms = rooms;
		sel.nrooms = 1; /* (in a cluster every server logs it too) */
		memset(&p, 0, sizeof(p));
		p.nsp = s->nsp;
		p.event = event;
		p.args = args;
		p.bins = bins;
		p.nbins = nbins;
		p.ack_id = -1;
		sios__core_enter(s->nsp->srv);
		r = s->nsp->adapter->ops->broadcast(s->nsp->adapter, &sel, &p);
		sios__core_leave(s->nsp->srv);
		sios__bpacket_clear(&p);
		return r;
	}
	return sios__socket_send(s, 0, -1, event, args, bins, nbins, flags);
}

SIOS_EXPORT int sios_emit(sios_socket *s, const char *event, const cJSON *args,
			  const sios_binary *bins, size_t nbins)
{
	return emit_flags(s, event, args, bins, nbins, 0);
}

SIOS_EXPORT int sios_emit_volatile(sios_socket *s, const char *event, const cJSON *args,
				   const sios_binary *bins, size_t nbins)
{
	return emit_flags(s, event, args, bins, nbins, SIOS__PUSH_VOLATILE);
}

/* ---- handlers and callbacks ----------------------------------------- */

SIOS_EXPORT int sios_socket_on(sios_socket *s, const char *event, sios_event_cb cb, void *ud)
{
	if (s && SIOS__OFF_LOOP(&s->nsp->srv->loop))
		return SIOS_EMISUSE;
	return s ? sios__handler_set(&s->handlers, event, cb, ud) : SIOS_EINVAL;
}

SIOS_EXPORT void sios_socket_on_any(sios_socket *s, sios_event_cb cb, void *ud)
{
	if (s) {
		s->on_any = cb;
		s->any_ud = ud;
	}
}

SIOS_EXPORT void sios_socket_disconnect_callback_set(sios_socket *s, sios_disconnect_cb cb, void *ud)
{
	if (s) {
		s->on_disc = cb;
		s->disc_ud = ud;
	}
}

SIOS_EXPORT void sios_socket_error_callback_set(sios_socket *s, sios_error_cb cb, void *ud)
{
	if (s) {
		s->on_error = cb;
		s->error_ud = ud;
	}
}

SIOS_EXPORT int sios_socket_use(sios_socket *s, sios_event_middleware_cb cb, void *ud)
{
	struct sios__emw **pp, *m;

	if (s && SIOS__OFF_LOOP(&s->nsp->srv->loop))
		return SIOS_EMISUSE;
	if (!s || !cb)
		return SIOS_EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return SIOS_ENOMEM;
	m->cb = cb;
	m->ud = ud;
	for (pp = &s->emw; *pp; pp = &(*pp)->next)
		;
	*pp = m;
	return 0;
}

SIOS_EXPORT void sios_socket_drain_callback_set(sios_socket *s, sios_drain_cb cb, void *ud)
{
	if (s) {
		s->on_drain = cb;
		s->drain_ud = ud;
	}
}

/* ---- accessors ------------------------------------------------------- */

SIOS_EXPORT const char *sios_socket_id(const sios_socket *s) { return s ? s->id : NULL; }

SIOS_EXPORT sios_nsp *sios_socket_nsp(const sios_socket *s) { return s ? s->nsp : NULL; }

SIOS_EXPORT const cJSON *sios_socket_auth(const sios_socket *s) { return s ? s->auth : NULL; }

SIOS_EXPORT int sios_socket_recovered(const sios_socket *s) { return s ? s->recovered : 0; }

SIOS_EXPORT const cJSON *sios_socket_handshake(const sios_socket *cs)
{
	sios_socket *s = (sios_socket *)cs; /* built once, on first use */
	const cJSON *conn;
	cJSON *h;
	char tbuf[96];

	if (!s)
		return NULL;
	if (s->handshake)
		return s->handshake;
	if (s->client_gone || !(conn = sios_eio_conn_handshake(s->client->conn)) ||
	    !(h = cJSON_Duplicate(conn, 1)))
		return NULL;
	/* as in Node, time and issued are the CONNECT's, auth its payload */
	sios__js_date(s->created, tbuf, sizeof(tbuf));
	cJSON_ReplaceItemInObjectCaseSensitive(h, "time", cJSON_CreateString(tbuf));
	cJSON_ReplaceItemInObjectCaseSensitive(h, "issued", cJSON_CreateNumber((double)s->created));
	cJSON_AddItemToObject(h, "auth", cJSON_Duplicate(s->auth, 1));
	s->handshake = h;
	return h;
}

SIOS_EXPORT const char *sios_socket_header(const sios_socket *s, const char *name)
{
	return s && !s->client_gone ? sios_eio_conn_header(s->client->conn, name) : NULL;
}

SIOS_EXPORT const char *sios_socket_query(const sios_socket *s, const char *key)
{
	return s && !s->client_gone ? sios_eio_conn_query(s->client->conn, key) : NULL;
}

SIOS_EXPORT const char *sios_socket_remote_addr(const sios_socket *s)
{
	return s && !s->client_gone ? sios_eio_conn_remote_addr(s->client->conn) : NULL;
}

SIOS_EXPORT unsigned sios_socket_transport(const sios_socket *s)
{
	return s && !s->client_gone ? sios_eio_conn_transport(s->client->conn) : 0;
}

SIOS_EXPORT size_t sios_socket_queued_bytes(const sios_socket *s)
{
	return s && !s->client_gone && !s->client->closed ? sios__session_queued_bytes(s->client->conn) : 0;
}

SIOS_EXPORT void sios_socket_set_userdata(sios_socket *s, void *ud)
{
	if (s)
		s->user = ud;
}

SIOS_EXPORT void *sios_socket_userdata(const sios_socket *s) { return s ? s->user : NULL; }
