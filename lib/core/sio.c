/* Socket.IO v5 on top of the engine: namespaces (static and dynamic),
 * middleware, sockets, events and acknowledgements. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

struct sios_next {
	sios_socket *sock;
	struct sios__mw *mw; /* the middleware running */
};

/* ---- deferred frees: handles stay valid until the outermost frame ------ */

static void reap(sios_server *srv)
{
	while (srv->sock_grave) {
		sios_socket *s = srv->sock_grave;
		struct sios_nsp *n = s->nsp;

		srv->sock_grave = s->grave_next;
		if (s->next) /* middleware still owns it */
			continue;
		sios__handlers_free(s->handlers);
		while (s->emw) {
			struct sios__emw *m = s->emw;

			s->emw = m->next;
			free(m);
		}
		cJSON_Delete(s->auth);
		cJSON_Delete(s->handshake);
		free(s);
		/* an empty dynamic child goes when configured */
		if (--n->members == 0 && n->parent && srv->cfg.cleanup_empty_nsps) {
			sios__nsp_free(n);
		}
	}
	while (srv->client_grave) {
		sios__client *c = srv->client_grave;

		srv->client_grave = c->grave_next;
		free(c);
	}
}

void sios__core_enter(sios_server *srv) { srv->depth++; }

void sios__core_leave(sios_server *srv)
{
	if (--srv->depth == 0)
		reap(srv);
}

void sios__bury_socket(sios_socket *s)
{
	sios_server *srv = s->nsp->srv;

	s->grave_next = srv->sock_grave;
	srv->sock_grave = s;
}

void sios__bury_client(sios__client *c)
{
	c->grave_next = c->srv->client_grave;
	c->srv->client_grave = c;
}

/* ---- sending --------------------------------------------------------- */

/* flags: SIOS__PUSH_* */
int sios__send_frame(sios__client *c, sios__frame *f, unsigned flags)
{
	if (c->closed)
		return SIOS_ECLOSED;
	return sios__session_push_group(c->conn, f->head, f->atts, f->natts, flags);
}

static int send_simple(sios__client *c, int type, const char *nsp, const cJSON *data)
{
	sios__frame f;
	int r = sios__encode_simple(&f, 0, type, nsp, data);

	if (r)
		return r;
	c->srv->packets_encoded++;
	r = sios__send_frame(c, &f, 0);
	sios__frame_clear(&f);
	return r;
}

static void send_connect_error(sios__client *c, const char *nsp, const char *message,
			       const cJSON *data)
{
	cJSON *err = cJSON_CreateObject();

	cJSON_AddStringToObject(err, "message", message ? message : "");
	if (data)
		cJSON_AddItemToObject(err, "data", cJSON_Duplicate(data, 1));
	send_simple(c, SIOS__P_CONNECT_ERROR, nsp, err);
	cJSON_Delete(err);
}

/* The client broke the protocol: the whole connection closes, after what
 * is already queued for it (as Node does); a websocket gets close code
 * 1002 with why (a static string) as its reason. */
static void protocol_error(sios__client *c, const char *why)
{
	if (c->closed)
		return;
	sios__log_limited(SIOS__LOG_WARN, "client %s: %s, closing", sios_eio_conn_id(c->conn), why);
	sios__session_end(c->conn, SIOS_REASON_PARSE_ERROR, SIOS__END_FLUSH, 1002, why);
}

/* ---- broadcast acknowledgements -------------------------------------- */

/* ---- sockets --------------------------------------------------------- */

/* A client has a socket per namespace it joined, usually one or two (at
 * most max_client_nsps): a list costs less per connection than a map. */
static sios_socket *client_socket(sios__client *c, const char *nsp)
{
	for (sios_socket *s = c->sockets; s; s = s->client_next)
		if (!strcmp(s->nsp->name, nsp))
			return s;
	return NULL;
}

/* s->client_next is kept, so a walk standing on s can go on */
static void client_unlink(sios__client *c, sios_socket *s)
{
	for (sios_socket **pp = &c->sockets; *pp; pp = &(*pp)->client_next)
		if (*pp == s) {
			*pp = s->client_next;
			c->nsockets--;
			return;
		}
}

static void socket_gone(sios_socket *s, int reason)
{
	sios_server *srv = s->nsp->srv;
	struct sios_nsp *cfg = sios__cfg_nsp(s->nsp);

	if (s->state != SIOS__SOCK_CONNECTED)
		return;
	sios__core_enter(srv);
	/* "disconnecting": still in its rooms */
	if (cfg->on_disconnecting)
		cfg->on_disconnecting(s, reason, cfg->disconnecting_ud);
	s->state = SIOS__SOCK_GONE;
	s->connected = 0;
	srv->nsockets--;
	s->nsp->adapter->ops->leave_all(s->nsp->adapter, s);
	sios__map_del(&s->nsp->sockets, s->id);
	client_unlink(s->client, s);
	if (s->on_disc)
		s->on_disc(s, reason, s->disc_ud);
	if (cfg->on_disc)
		cfg->on_disc(s, reason, cfg->disc_ud);
	sios__acks_fail(s);
	sios__bury_socket(s);
	sios__core_leave(srv);
}

static void socket_connected(sios_socket *s)
{
	sios__client *c = s->client;
	struct sios_nsp *nsp = s->nsp, *cfg = sios__cfg_nsp(nsp);
	cJSON *reply;

	if (sios__map_put(&nsp->sockets, s->id, s)) {
		protocol_error(c, "out of memory");
		return;
	}
	s->state = SIOS__SOCK_CONNECTED;
	s->connected = 1;
	c->srv->nsockets++;
	if (!c->joined) {
		c->joined = 1;
		sios__loop_timer_cancel(&c->srv->loop, &c->connect_t);
	}
	nsp->adapter->ops->join(nsp->adapter, s, s->id);
	/* the CONNECT reply goes out before anything the handler emits */
	reply = cJSON_CreateObject();
	cJSON_AddStringToObject(reply, "sid", s->id);
	send_simple(c, SIOS__P_CONNECT, nsp->name, reply);
	cJSON_Delete(reply);
	if (cfg->on_conn)
		cfg->on_conn(s, cfg->conn_ud);
}

/* a socket refused by middleware, or whose client left while connecting */
static void socket_abandon(sios_socket *s)
{
	if (s->state == SIOS__SOCK_CONNECTING) {
		s->state = SIOS__SOCK_GONE;
		if (!s->client_gone)
			client_unlink(s->client, s);
		sios__bury_socket(s);
	}
}

static void run_middleware(sios_socket *s, struct sios__mw *m)
{
	struct sios_next *nx;

	if (!m) {
		socket_connected(s);
		return;
	}
	nx = calloc(1, sizeof(*nx));
	if (!nx) {
		send_connect_error(s->client, s->nsp->name, "out of memory", NULL);
		socket_abandon(s);
		return;
	}
	nx->sock = s;
	nx->mw = m;
	s->next = nx;
	m->cb(s, nx, m->ud);
}

/* resolve a next: returns the socket when it can go on, or NULL */
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
	if (nx && SIOS__OFF_LOOP(&nx->sock->nsp->srv->loop))
		return SIOS_EMISUSE;
	sios_socket *s;
	sios_server *srv;
	struct sios__mw *m;
	int gone;

	if (!nx)
		return SIOS_EINVAL;
	m = nx->mw->next;
	s = next_take(nx, &gone);
	srv = s->nsp->srv;
	sios__core_enter(srv);
	if (gone) {
		if (s->state == SIOS__SOCK_CONNECTING)
			socket_abandon(s);
		else if (s->state == SIOS__SOCK_GONE)
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
	if (nx && SIOS__OFF_LOOP(&nx->sock->nsp->srv->loop))
		return SIOS_EMISUSE;
	sios_socket *s;
	sios_server *srv;
	int gone;

	if (!nx)
		return SIOS_EINVAL;
	s = next_take(nx, &gone);
	srv = s->nsp->srv;
	sios__core_enter(srv);
	if (!gone)
		send_connect_error(s->client, s->nsp->name, message, data);
	if (s->state == SIOS__SOCK_CONNECTING) {
		socket_abandon(s);
	} else if (s->state == SIOS__SOCK_GONE) {
		sios__bury_socket(s);
	}
	sios__core_leave(srv);
	return gone ? SIOS_ECLOSED : 0;
}

static void on_connect(sios__client *c, sios__packet *p)
{
	struct sios_nsp *nsp;
	sios_socket *s = client_socket(c, p->nsp);

	if (s) {
		/* a second CONNECT to a namespace already joined is an invalid
		 * state for Node, which closes the connection; one still in its
		 * middleware is ignored */
		if (s->state == SIOS__SOCK_CONNECTED)
			protocol_error(c, "CONNECT to a namespace already joined");
		return;
	}
	if (c->nsockets >= c->srv->cfg.max_client_nsps) {
		send_connect_error(c, p->nsp, "Too many namespaces", NULL);
		return;
	}
	/* a CONNECT without a payload has the auth {} (Node's default) */
	if (!p->data && !(p->data = cJSON_CreateObject())) {
		protocol_error(c, "out of memory");
		return;
	}
	nsp = sios__nsp_resolve(c->srv, p->nsp, p->data);
	if (!nsp) {
		send_connect_error(c, p->nsp, "Invalid namespace", NULL);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		protocol_error(c, "out of memory");
		return;
	}
	do
		sios__id(s->id);
	while (sios__map_get(&nsp->sockets, s->id));
	s->nsp = nsp;
	s->client = c;
	s->auth = p->data;
	p->data = NULL;
	s->created = sios__wall_ms();
	s->state = SIOS__SOCK_CONNECTING;
	nsp->members++;
	s->client_next = c->sockets;
	c->sockets = s;
	c->nsockets++;
	run_middleware(s, sios__cfg_nsp(nsp)->mw);
}

static void dispatch_event(sios__client *c, sios__packet *p, const sios_binary *bins,
			   size_t nbins)
{
	sios_socket *s = client_socket(c, p->nsp);
	struct sios_nsp *cfg;
	cJSON *name_item;
	struct sios_event ev;
	sios_event_cb cb;
	void *ud = NULL;

	if (!s || s->state != SIOS__SOCK_CONNECTED) {
		sios__log(SIOS__LOG_DEBUG, "event for namespace %s the client is not in", p->nsp);
		return;
	}
	cfg = sios__cfg_nsp(s->nsp);
	name_item = cJSON_DetachItemFromArray(p->data, 0);
	memset(&ev, 0, sizeof(ev));
	ev.name = name_item->valuestring;
	ev.args = p->data;
	ev.bins = bins;
	ev.nbins = nbins;
	ev.sock = s;
	ev.ack_id = p->id;
	for (struct sios__emw *m = s->emw; m && s->connected; m = m->next) {
		int r = m->cb(s, &ev, m->ud);

		if (r == SIOS_DROP)
			goto out;
		if (r == SIOS_REJECT) {
			if (s->on_error)
				s->on_error(s, ev.reject_msg ? ev.reject_msg : "rejected", s->error_ud);
			goto out;
		}
	}
	if (s->connected && s->on_any)
		s->on_any(s, &ev, s->any_ud);
	if (s->connected && cfg->on_any)
		cfg->on_any(s, &ev, cfg->any_ud);
	if (s->connected) {
		cb = sios__handler_find(s->handlers, ev.name, &ud);
		if (!cb)
			cb = sios__handler_find(cfg->handlers, ev.name, &ud);
		if (cb)
			cb(s, &ev, ud);
	}
out:
	free(ev.reject_msg);
	cJSON_Delete(name_item);
}

static void dispatch_ack(sios__client *c, sios__packet *p, const sios_binary *bins, size_t nbins)
{
	sios_socket *s = client_socket(c, p->nsp);

	if (!s || s->state != SIOS__SOCK_CONNECTED)
		return;
	sios__ack_answer(s, p->id, p->data, bins, nbins);
}

static void handle_packet(sios__client *c, sios__packet *p, const sios_binary *bins, size_t nbins)
{
	sios_socket *s;

	switch (p->type) {
	case SIOS__P_CONNECT:
		on_connect(c, p);
		break;
	case SIOS__P_DISCONNECT:
	case SIOS__P_EVENT:
	case SIOS__P_BINARY_EVENT:
	case SIOS__P_ACK:
	case SIOS__P_BINARY_ACK:
		/* only for a namespace the client has joined (Node closes the
		 * connection on any other: "invalid state") */
		s = client_socket(c, p->nsp);
		if (!s || s->state != SIOS__SOCK_CONNECTED)
			protocol_error(c, "packet for a namespace not joined");
		else if (p->type == SIOS__P_DISCONNECT)
			socket_gone(s, SIOS_REASON_CLIENT_NAMESPACE_DISCONNECT);
		else if (p->type == SIOS__P_ACK || p->type == SIOS__P_BINARY_ACK)
			dispatch_ack(c, p, bins, nbins);
		else
			dispatch_event(c, p, bins, nbins);
		break;
	default:
		protocol_error(c, "unexpected CONNECT_ERROR packet");
	}
}

/* A packet waiting for its binary attachments, with the deadline to
 * finish them; allocated only while one waits. */
struct sios__binwait {
	sios__assembler a;
	sios__timer t;
	sios__client *c;
};

static void clear_pending(sios__client *c)
{
	if (!c->binwait)
		return;
	sios__loop_timer_cancel(&c->srv->loop, &c->binwait->t);
	sios__asm_clear(&c->binwait->a);
	free(c->binwait);
	c->binwait = NULL;
}

static void binwait_timeout(sios__timer *t)
{
	struct sios__binwait *w = sios__container_of(t, struct sios__binwait, t);
	sios__client *c = w->c;
	sios_server *srv = c->srv;

	sios__core_enter(srv);
	protocol_error(c, "binary attachments not finished in time");
	clear_pending(c);
	sios__core_leave(srv);
}

/* ---- engine callbacks for the Socket.IO endpoint ---------------------- */

/* No namespace joined within connectTimeout: the connection is closed, as
 * Node does, so a client that never says CONNECT holds nothing for long. */
static void connect_timeout_cb(sios__timer *t)
{
	sios__client *c = sios__container_of(t, sios__client, connect_t);
	sios_server *srv = c->srv;

	if (c->joined || c->closed)
		return;
	sios__core_enter(srv);
	sios__log(SIOS__LOG_DEBUG, "connection %s joined no namespace in time, closing",
		  sios_eio_conn_id(c->conn));
	sios_eio_close(c->conn);
	sios__core_leave(srv);
}

static void eio_open(sios_eio_conn *conn, void *ud)
{
	sios_server *srv = ud;
	sios__client *c = calloc(1, sizeof(*c));

	if (!c) {
		sios_eio_close(conn);
		return;
	}
	c->srv = srv;
	c->conn = conn;
	sios__timer_init(&c->connect_t, connect_timeout_cb);
	sios__loop_timer_add(&srv->loop, &c->connect_t, srv->cfg.connect_timeout);
	sios_eio_conn_set_userdata(conn, c);
}

static void eio_message(sios_eio_conn *conn, const void *data, size_t len, int binary, void *ud)
{
	sios_server *srv = ud;
	sios__client *c = sios_eio_conn_userdata(conn);

	if (!c || c->closed)
		return;
	sios__core_enter(srv);
	if (binary) {
		struct sios__binwait *w = c->binwait;
		int r = w ? sios__asm_binary(&w->a, data, len, srv->cfg.max_attachment_bytes)
			  : SIOS__ASM_ERR_ORDER;

		if (r == SIOS__ASM_PACKET)
			handle_packet(c, &w->a.pending, w->a.bins, w->a.nbins);
		else if (r < 0)
			protocol_error(c, sios__asm_strerror(r));
		if (r != SIOS__ASM_WAIT)
			clear_pending(c);
	} else {
		sios__assembler a;
		sios__packet p;
		int r = SIOS__ASM_ERR_ORDER;

		memset(&a, 0, sizeof(a));
		if (!c->binwait)
			r = sios__asm_text(&a, data, len, &p);
		if (r == SIOS__ASM_PACKET) {
			handle_packet(c, &p, NULL, 0);
			sios__packet_clear(&p);
		} else if (r == SIOS__ASM_WAIT && (c->binwait = malloc(sizeof(*c->binwait)))) {
			c->binwait->a = a;
			c->binwait->c = c;
			sios__timer_init(&c->binwait->t, binwait_timeout);
			sios__loop_timer_add(&srv->loop, &c->binwait->t, srv->cfg.attachment_timeout);
		} else {
			if (r == SIOS__ASM_WAIT)
				sios__asm_clear(&a);
			protocol_error(c, r == SIOS__ASM_WAIT ? "out of memory" : sios__asm_strerror(r));
			clear_pending(c);
		}
	}
	sios__core_leave(srv);
}

static void eio_drain(sios_eio_conn *conn, void *ud)
{
	sios_server *srv = ud;
	sios__client *c = sios_eio_conn_userdata(conn);
	sios_socket *s, *next;

	if (!c || c->closed)
		return;
	sios__core_enter(srv);
	/* a socket unlinked meanwhile keeps its link: the walk goes on */
	for (s = c->sockets; s; s = next) {
		next = s->client_next;
		if (s->state == SIOS__SOCK_CONNECTED && s->on_drain)
			s->on_drain(s, s->drain_ud);
	}
	sios__core_leave(srv);
}

static void eio_close(sios_eio_conn *conn, int reason, void *ud)
{
	sios_server *srv = ud;
	sios__client *c = sios_eio_conn_userdata(conn);
	sios_socket *s, *next;

	if (!c)
		return;
	sios__core_enter(srv);
	c->closed = 1;
	sios__loop_timer_cancel(&srv->loop, &c->connect_t);
	/* a socket unlinked meanwhile keeps its link: the walk goes on */
	for (s = c->sockets; s; s = next) {
		next = s->client_next;
		if (s->state == SIOS__SOCK_CONNECTED) {
			socket_gone(s, reason);
		} else if (s->state == SIOS__SOCK_CONNECTING) {
			/* middleware still deciding: it finds out from next */
			s->state = SIOS__SOCK_GONE;
			if (!s->next)
				sios__bury_socket(s);
		}
		s->client_gone = 1;
	}
	clear_pending(c);
	sios_eio_conn_set_userdata(conn, NULL);
	sios__bury_client(c);
	sios__core_leave(srv);
}

/* ---- namespaces ------------------------------------------------------ */

int sios__sio_init(sios_server *srv)
{
	struct sios_nsp *root;
	int r = sios__engine_mount(&srv->eng, srv->cfg.path, &srv->sio_ep);

	if (r)
		return r;
	sios_eio_open_callback_set(srv->sio_ep, eio_open, srv);
	sios_eio_message_callback_set(srv->sio_ep, eio_message, srv);
	sios_eio_close_callback_set(srv->sio_ep, eio_close, srv);
	srv->sio_ep->on_drain = eio_drain;
	srv->sio_ep->drain_ud = srv;
	return sios__nsp_new(srv, "/", &root);
}

void sios__sio_free(sios_server *srv)
{
	reap(srv);
	sios__nsp_free_all(srv);
}

/* ---- sockets: public ------------------------------------------------- */

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

/* Encodes an EVENT (or, is_ack, an ACK) for the socket's namespace and
 * queues it on its connection; flags: SIOS__PUSH_*. */
int sios__socket_send(sios_socket *s, int is_ack, long long id, const char *event,
		      const cJSON *args, const sios_binary *bins, size_t nbins, unsigned flags)
{
	sios__frame f;
	int r = sios__encode_message(&f, 0, is_ack, s->nsp->name, id, event, args, bins, nbins);

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

/* also used by scopes */
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
	send_simple(c, SIOS__P_DISCONNECT, s->nsp->name, NULL);
	socket_gone(s, SIOS_REASON_SERVER_NAMESPACE_DISCONNECT);
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

SIOS_EXPORT const char *sios_socket_id(const sios_socket *s) { return s ? s->id : NULL; }

SIOS_EXPORT sios_nsp *sios_socket_nsp(const sios_socket *s) { return s ? s->nsp : NULL; }

SIOS_EXPORT const cJSON *sios_socket_auth(const sios_socket *s) { return s ? s->auth : NULL; }

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

SIOS_EXPORT void sios_socket_drain_callback_set(sios_socket *s, sios_drain_cb cb, void *ud)
{
	if (s) {
		s->on_drain = cb;
		s->drain_ud = ud;
	}
}

SIOS_EXPORT void sios_socket_set_userdata(sios_socket *s, void *ud)
{
	if (s)
		s->user = ud;
}

SIOS_EXPORT void *sios_socket_userdata(const sios_socket *s) { return s ? s->user : NULL; }
