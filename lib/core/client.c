/* Clients: one per Engine.IO connection on the Socket.IO path. The
 * engine's callbacks for it, the dispatch of its packets (CONNECT, events,
 * acks, DISCONNECT) to its sockets, protocol errors, the time it has to
 * join a namespace, and a packet waiting for its binary attachments. */
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

/* ---- sending --------------------------------------------------------- */

int sios__send_frame(sios__client *c, sios__frame *f, unsigned flags)
{
	if (c->closed)
		return SIOS_ECLOSED;
	return sios__session_push_group(c->conn, f->head, f->atts, f->natts, flags);
}

/* CONNECT reply, CONNECT_ERROR or DISCONNECT */
int sios__send_simple(sios__client *c, int type, const char *nsp, const cJSON *data)
{
	sios__frame f;
	int r = sios__encode_simple(&f, type, nsp, data);

	if (r)
		return r;
	c->srv->packets_encoded++;
	r = sios__send_frame(c, &f, 0);
	sios__frame_clear(&f);
	return r;
}

void sios__send_connect_error(sios__client *c, const char *nsp, const char *message,
			      const cJSON *data)
{
	cJSON *err = cJSON_CreateObject();

	cJSON_AddStringToObject(err, "message", message ? message : "");
	if (data)
		cJSON_AddItemToObject(err, "data", cJSON_Duplicate(data, 1));
	sios__send_simple(c, SIOS__P_CONNECT_ERROR, nsp, err);
	cJSON_Delete(err);
}

/* The client broke the protocol: the whole connection closes, after what
 * is already queued for it (as Node does); a websocket gets close code
 * 1002 with why (a static string) as its reason. */
void sios__protocol_error(sios__client *c, const char *why)
{
	if (c->closed)
		return;
	sios__log_limited(SIOS__LOG_WARN, "client %s: %s, closing", sios_eio_conn_id(c->conn), why);
	sios__session_end(c->conn, SIOS_REASON_PARSE_ERROR, SIOS__END_FLUSH, 1002, why);
}

/* ---- the client's sockets -------------------------------------------- */

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
void sios__client_unlink(sios__client *c, sios_socket *s)
{
	for (sios_socket **pp = &c->sockets; *pp; pp = &(*pp)->client_next)
		if (*pp == s) {
			*pp = s->client_next;
			c->nsockets--;
			return;
		}
}

/* ---- packets --------------------------------------------------------- */

static void on_connect(sios__client *c, sios__packet *p)
{
	struct sios_nsp *nsp;
	sios_socket *s = client_socket(c, p->nsp);

	if (s) {
		/* a second CONNECT to a namespace already joined is an invalid
		 * state for Node, which closes the connection; one still in its
		 * middleware is ignored */
		if (s->state == SIOS__SOCK_CONNECTED)
			sios__protocol_error(c, "CONNECT to a namespace already joined");
		return;
	}
	if (c->nsockets >= c->srv->cfg.max_client_nsps) {
		sios__send_connect_error(c, p->nsp, "Too many namespaces", NULL);
		return;
	}
	/* a CONNECT without a payload has the auth {} (Node's default) */
	if (!p->data && !(p->data = cJSON_CreateObject())) {
		sios__protocol_error(c, "out of memory");
		return;
	}
	nsp = sios__nsp_resolve(c->srv, p->nsp, p->data);
	if (!nsp) {
		sios__send_connect_error(c, p->nsp, "Invalid namespace", NULL);
		return;
	}
	if (sios__socket_open(c, nsp, &p->data))
		sios__protocol_error(c, "out of memory");
}

/* An event for a connected socket: its event middleware, the catch-all
 * handlers, then its handler, while it stays connected. */
static void dispatch_event(sios_socket *s, sios__packet *p, const sios_binary *bins, size_t nbins)
{
	struct sios_nsp *cfg = sios__cfg_nsp(s->nsp);
	cJSON *name_item;
	struct sios_event ev;
	sios_event_cb cb;
	void *ud = NULL;

	name_item = cJSON_DetachItemFromArray(p->data, 0);
	memset(&ev, 0, sizeof(ev));
	ev.name = name_item->valuestring;
	ev.args = p->data;
	ev.bins = bins;
	ev.nbins = nbins;
	ev.sock = s;
	ev.ack_id = p->id;
	for (struct sios__emw *m = s->emw; m && s->state == SIOS__SOCK_CONNECTED; m = m->next) {
		int r = m->cb(s, &ev, m->ud);

		if (r == SIOS_DROP)
			goto out;
		if (r == SIOS_REJECT) {
			if (s->on_error)
				s->on_error(s, ev.reject_msg ? ev.reject_msg : "rejected", s->error_ud);
			goto out;
		}
	}
	if (s->state == SIOS__SOCK_CONNECTED && s->on_any)
		s->on_any(s, &ev, s->any_ud);
	if (s->state == SIOS__SOCK_CONNECTED && cfg->on_any)
		cfg->on_any(s, &ev, cfg->any_ud);
	if (s->state == SIOS__SOCK_CONNECTED) {
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
			sios__protocol_error(c, "packet for a namespace not joined");
		else if (p->type == SIOS__P_DISCONNECT)
			sios__socket_gone(s, SIOS_REASON_CLIENT_NAMESPACE_DISCONNECT);
		else if (p->type == SIOS__P_ACK || p->type == SIOS__P_BINARY_ACK)
			sios__ack_answer(s, p->id, p->data, bins, nbins);
		else
			dispatch_event(s, p, bins, nbins);
		break;
	default:
		sios__protocol_error(c, "unexpected CONNECT_ERROR packet");
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
	sios__protocol_error(c, "binary attachments not finished in time");
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
			sios__protocol_error(c, sios__asm_strerror(r));
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
			sios__protocol_error(c, r == SIOS__ASM_WAIT ? "out of memory" : sios__asm_strerror(r));
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
		sios__socket_client_closed(s, reason);
	}
	/* A packet waiting for attachments waits no more, but is freed with the
	 * client: the handler that closed the connection may be running on it. */
	if (c->binwait)
		sios__loop_timer_cancel(&srv->loop, &c->binwait->t);
	sios_eio_conn_set_userdata(conn, NULL);
	sios__bury_client(c);
	sios__core_leave(srv);
}

/* frees a buried client, when the reaper comes */
void sios__client_free(sios__client *c)
{
	if (c->binwait) {
		sios__asm_clear(&c->binwait->a);
		free(c->binwait);
	}
	free(c);
}

/* the Socket.IO endpoint: the engine's callbacks at the configured path */
int sios__client_mount(sios_server *srv)
{
	int r = sios__engine_mount(&srv->eng, srv->cfg.path, &srv->sio_ep);

	if (r)
		return r;
	sios_eio_open_callback_set(srv->sio_ep, eio_open, srv);
	sios_eio_message_callback_set(srv->sio_ep, eio_message, srv);
	sios_eio_close_callback_set(srv->sio_ep, eio_close, srv);
	sios__eio_drain_callback_set(srv->sio_ep, eio_drain, srv);
	return 0;
}
