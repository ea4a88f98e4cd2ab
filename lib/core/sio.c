/* Socket.IO v5 on top of the engine: namespaces, sockets, events, acks. */
#include <stdlib.h>
#include <string.h>

#include "core.h"

#define container_of(p, T, m) ((T *)(void *)((char *)(p) - offsetof(T, m)))

struct sios__pending_ack {
	long long id;
	sios_ack_cb cb;
	void *ud;
	sios_socket *sock;
	sios__timer timer;
	struct sios__pending_ack *next;
};

struct sios_event {
	const char *name;
	cJSON *args;
	const sios_binary *bins;
	size_t nbins;
	/* the acknowledgement asked for, handed out once */
	sios_nsp *nsp;
	const char *sid;
	long long ack_id;
	int ack_taken;
};

struct sios_ack {
	sios_nsp *nsp;
	char sid[SIOS__ID_LEN + 1];
	long long id;
};

/* ---- deferred frees: handles stay valid until the outermost frame ------ */

static void reap(sios_server *srv)
{
	while (srv->sock_grave) {
		sios_socket *s = srv->sock_grave;

		srv->sock_grave = s->grave_next;
		while (s->handlers) {
			struct sios__handler *h = s->handlers;

			s->handlers = h->next;
			free(h->event);
			free(h);
		}
		cJSON_Delete(s->auth);
		free(s);
	}
	while (srv->client_grave) {
		sios__client *c = srv->client_grave;

		srv->client_grave = c->grave_next;
		sios__map_free(&c->sockets);
		free(c);
	}
}

#define ENTER(srv) ((srv)->depth++)
#define LEAVE(srv)                                                                         \
	do {                                                                               \
		if (--(srv)->depth == 0)                                                   \
			reap(srv);                                                         \
	} while (0)

/* ---- sending --------------------------------------------------------- */

static int send_frame(sios__client *c, sios__frame *f)
{
	int r;

	if (c->closed)
		return SIOS_ECLOSED;
	r = sios__session_push(c->conn, f->head, 0);
	for (size_t i = 0; !r && i < f->natts; i++)
		r = sios__session_push(c->conn, f->atts[i], 1);
	return r;
}

static int send_simple(sios__client *c, int type, const char *nsp, const cJSON *data)
{
	sios__frame f;
	int r = sios__encode_simple(&f, LWS_PRE, type, nsp, data);

	if (r)
		return r;
	r = send_frame(c, &f);
	sios__frame_clear(&f);
	return r;
}

static void protocol_error(sios__client *c, const char *why)
{
	if (c->closed)
		return;
	sios__log(SIOS__LOG_WARN, "client %s: %s, closing", sios_eio_conn_id(c->conn), why);
	sios__session_close(c->conn, SIOS_REASON_PARSE_ERROR);
}

/* ---- sockets --------------------------------------------------------- */

static void fail_acks(sios_socket *s)
{
	while (s->acks) {
		struct sios__pending_ack *a = s->acks;

		s->acks = a->next;
		sios__loop_timer_cancel(&s->nsp->srv->loop, &a->timer);
		a->cb(NULL, SIOS_ECLOSED, NULL, a->ud);
		free(a);
	}
}

static void socket_gone(sios_socket *s, int reason)
{
	sios_server *srv = s->nsp->srv;

	if (!s->connected)
		return;
	ENTER(srv);
	s->connected = 0;
	sios__map_del(&s->nsp->sockets, s->id);
	sios__map_del(&s->client->sockets, s->nsp->name);
	if (s->on_disc)
		s->on_disc(s, reason, s->disc_ud);
	if (s->nsp->on_disc)
		s->nsp->on_disc(s, reason, s->nsp->disc_ud);
	fail_acks(s);
	s->grave_next = srv->sock_grave;
	srv->sock_grave = s;
	LEAVE(srv);
}

static sios_nsp *find_nsp(sios_server *srv, const char *name)
{
	for (sios_nsp *n = srv->nsps; n; n = n->next)
		if (!strcmp(n->name, name))
			return n;
	return NULL;
}

static void on_connect(sios__client *c, sios__packet *p)
{
	sios_nsp *nsp = find_nsp(c->srv, p->nsp);
	sios_socket *s;
	cJSON *reply;

	if (!nsp) {
		cJSON *err = cJSON_CreateObject();

		cJSON_AddStringToObject(err, "message", "Invalid namespace");
		send_simple(c, SIOS__P_CONNECT_ERROR, p->nsp, err);
		cJSON_Delete(err);
		return;
	}
	s = sios__map_get(&c->sockets, nsp->name);
	if (s) {
		/* already connected: say so again */
		reply = cJSON_CreateObject();
		cJSON_AddStringToObject(reply, "sid", s->id);
		send_simple(c, SIOS__P_CONNECT, nsp->name, reply);
		cJSON_Delete(reply);
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
	if (sios__map_put(&nsp->sockets, s->id, s) || sios__map_put(&c->sockets, nsp->name, s)) {
		sios__map_del(&nsp->sockets, s->id);
		cJSON_Delete(s->auth);
		free(s);
		protocol_error(c, "out of memory");
		return;
	}
	s->connected = 1;
	/* the CONNECT reply goes out before anything the handler emits */
	reply = cJSON_CreateObject();
	cJSON_AddStringToObject(reply, "sid", s->id);
	send_simple(c, SIOS__P_CONNECT, nsp->name, reply);
	cJSON_Delete(reply);
	if (nsp->on_conn)
		nsp->on_conn(s, nsp->conn_ud);
}

static sios_event_cb find_handler(struct sios__handler *h, const char *name, void **ud)
{
	for (; h; h = h->next)
		if (!strcmp(h->event, name)) {
			*ud = h->ud;
			return h->cb;
		}
	return NULL;
}

static void dispatch_event(sios__client *c, sios__packet *p, const sios_binary *bins,
			   size_t nbins)
{
	sios_socket *s = sios__map_get(&c->sockets, p->nsp);
	cJSON *name_item;
	struct sios_event ev;
	sios_event_cb cb;
	void *ud = NULL;

	if (!s) {
		sios__log(SIOS__LOG_DEBUG, "event for namespace %s the client is not in", p->nsp);
		return;
	}
	name_item = cJSON_DetachItemFromArray(p->data, 0);
	memset(&ev, 0, sizeof(ev));
	ev.name = name_item->valuestring;
	ev.args = p->data;
	ev.bins = bins;
	ev.nbins = nbins;
	ev.nsp = s->nsp;
	ev.sid = s->id;
	ev.ack_id = p->id;
	if (s->on_any)
		s->on_any(s, &ev, s->any_ud);
	if (s->connected && s->nsp->on_any)
		s->nsp->on_any(s, &ev, s->nsp->any_ud);
	if (s->connected) {
		cb = find_handler(s->handlers, ev.name, &ud);
		if (!cb)
			cb = find_handler(s->nsp->handlers, ev.name, &ud);
		if (cb)
			cb(s, &ev, ud);
	}
	cJSON_Delete(name_item);
}

static void dispatch_ack(sios__client *c, sios__packet *p, const sios_binary *bins, size_t nbins)
{
	sios_socket *s = sios__map_get(&c->sockets, p->nsp);
	struct sios__pending_ack **pp, *a;
	struct sios_event ev;

	if (!s)
		return;
	for (pp = &s->acks; (a = *pp); pp = &a->next)
		if (a->id == p->id)
			break;
	if (!a) {
		sios__log(SIOS__LOG_DEBUG, "socket %s: unknown ack id %lld", s->id, p->id);
		return;
	}
	*pp = a->next;
	sios__loop_timer_cancel(&c->srv->loop, &a->timer);
	memset(&ev, 0, sizeof(ev));
	ev.args = p->data;
	ev.bins = bins;
	ev.nbins = nbins;
	ev.ack_id = -1;
	a->cb(s, 0, &ev, a->ud);
	free(a);
}

static void handle_packet(sios__client *c, sios__packet *p, const sios_binary *bins, size_t nbins)
{
	sios_socket *s;

	switch (p->type) {
	case SIOS__P_CONNECT:
		on_connect(c, p);
		break;
	case SIOS__P_DISCONNECT:
		s = sios__map_get(&c->sockets, p->nsp);
		if (s)
			socket_gone(s, SIOS_REASON_CLIENT_NAMESPACE_DISCONNECT);
		break;
	case SIOS__P_EVENT:
	case SIOS__P_BINARY_EVENT:
		dispatch_event(c, p, bins, nbins);
		break;
	case SIOS__P_ACK:
	case SIOS__P_BINARY_ACK:
		dispatch_ack(c, p, bins, nbins);
		break;
	default:
		protocol_error(c, "unexpected CONNECT_ERROR packet");
	}
}

static void clear_pending(sios__client *c)
{
	for (size_t i = 0; i < c->nbins; i++)
		free((void *)c->bins[i].data);
	free(c->bins);
	c->bins = NULL;
	c->nbins = 0;
	if (c->has_pending)
		sios__packet_clear(&c->pending);
	c->has_pending = 0;
}

/* ---- engine callbacks for the Socket.IO endpoint ---------------------- */

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
	sios__map_init(&c->sockets);
	sios_eio_conn_set_userdata(conn, c);
}

static void eio_message(sios_eio_conn *conn, const void *data, size_t len, int binary, void *ud)
{
	sios_server *srv = ud;
	sios__client *c = sios_eio_conn_userdata(conn);

	if (!c || c->closed)
		return;
	ENTER(srv);
	if (binary) {
		sios_binary *nb;
		void *copy;

		if (!c->has_pending) {
			protocol_error(c, "unexpected binary message");
			goto out;
		}
		nb = realloc(c->bins, (c->nbins + 1) * sizeof(*nb));
		copy = malloc(len ? len : 1);
		if (!nb || !copy) {
			free(copy);
			if (nb)
				c->bins = nb;
			protocol_error(c, "out of memory");
			goto out;
		}
		if (len)
			memcpy(copy, data, len);
		c->bins = nb;
		c->bins[c->nbins].data = copy;
		c->bins[c->nbins].len = len;
		c->nbins++;
		if (c->nbins == c->pending.attachments) {
			if (!sios__placeholders_valid(c->pending.data, c->nbins))
				protocol_error(c, "bad binary placeholder");
			else
				handle_packet(c, &c->pending, c->bins, c->nbins);
			clear_pending(c);
		}
	} else {
		sios__packet p;

		if (c->has_pending) {
			protocol_error(c, "text packet while binary attachments were expected");
			goto out;
		}
		if (sios__packet_decode(data, len, &p)) {
			protocol_error(c, "malformed Socket.IO packet");
			goto out;
		}
		if (p.attachments) {
			c->pending = p;
			c->has_pending = 1;
		} else {
			if ((p.type == SIOS__P_BINARY_EVENT || p.type == SIOS__P_BINARY_ACK) &&
			    !sios__placeholders_valid(p.data, 0))
				protocol_error(c, "bad binary placeholder");
			else
				handle_packet(c, &p, NULL, 0);
			sios__packet_clear(&p);
		}
	}
out:
	LEAVE(srv);
}

static void eio_close(sios_eio_conn *conn, int reason, void *ud)
{
	sios_server *srv = ud;
	sios__client *c = sios_eio_conn_userdata(conn);
	size_t it = 0;
	sios_socket *s;

	if (!c)
		return;
	ENTER(srv);
	c->closed = 1;
	while ((s = sios__map_next(&c->sockets, &it)))
		socket_gone(s, reason);
	clear_pending(c);
	sios_eio_conn_set_userdata(conn, NULL);
	c->grave_next = srv->client_grave;
	srv->client_grave = c;
	LEAVE(srv);
}

/* ---- namespaces ------------------------------------------------------ */

static int nsp_new(sios_server *srv, const char *name, sios_nsp **out)
{
	sios_nsp *n = calloc(1, sizeof(*n));

	if (!n || !(n->name = sios__strdup(name))) {
		free(n);
		return SIOS_ENOMEM;
	}
	n->srv = srv;
	sios__map_init(&n->sockets);
	n->next = srv->nsps;
	srv->nsps = n;
	*out = n;
	return 0;
}

int sios__sio_init(sios_server *srv)
{
	sios_nsp *root;
	int r = sios__engine_mount(&srv->eng, srv->cfg.path, &srv->sio_ep);

	if (r)
		return r;
	sios_eio_open_callback_set(srv->sio_ep, eio_open, srv);
	sios_eio_message_callback_set(srv->sio_ep, eio_message, srv);
	sios_eio_close_callback_set(srv->sio_ep, eio_close, srv);
	return nsp_new(srv, "/", &root);
}

static void free_handlers(struct sios__handler *h)
{
	while (h) {
		struct sios__handler *n = h->next;

		free(h->event);
		free(h);
		h = n;
	}
}

void sios__sio_free(sios_server *srv)
{
	reap(srv);
	while (srv->nsps) {
		sios_nsp *n = srv->nsps;

		srv->nsps = n->next;
		free_handlers(n->handlers);
		sios__map_free(&n->sockets);
		free(n->name);
		free(n);
	}
}

SIOS_EXPORT int sios_of(sios_server *srv, const char *name, sios_nsp **out)
{
	sios_nsp *n;

	if (!srv || !name || name[0] != '/' || strchr(name, ',') || !out)
		return SIOS_EINVAL;
	n = find_nsp(srv, name);
	if (n) {
		*out = n;
		return 0;
	}
	return nsp_new(srv, name, out);
}

SIOS_EXPORT const char *sios_nsp_name(const sios_nsp *nsp) { return nsp ? nsp->name : NULL; }

SIOS_EXPORT void sios_nsp_connection_callback_set(sios_nsp *nsp, sios_connection_cb cb, void *ud)
{
	if (nsp) {
		nsp->on_conn = cb;
		nsp->conn_ud = ud;
	}
}

SIOS_EXPORT void sios_nsp_disconnect_callback_set(sios_nsp *nsp, sios_disconnect_cb cb, void *ud)
{
	if (nsp) {
		nsp->on_disc = cb;
		nsp->disc_ud = ud;
	}
}

static int set_handler(struct sios__handler **list, const char *event, sios_event_cb cb, void *ud)
{
	struct sios__handler **pp, *h;

	if (!event || !*event)
		return SIOS_EINVAL;
	for (pp = list; (h = *pp); pp = &h->next)
		if (!strcmp(h->event, event))
			break;
	if (!cb) {
		if (h) {
			*pp = h->next;
			free(h->event);
			free(h);
		}
		return 0;
	}
	if (!h) {
		h = calloc(1, sizeof(*h));
		if (!h || !(h->event = sios__strdup(event))) {
			free(h);
			return SIOS_ENOMEM;
		}
		*pp = h;
	}
	h->cb = cb;
	h->ud = ud;
	return 0;
}

SIOS_EXPORT int sios_nsp_on(sios_nsp *nsp, const char *event, sios_event_cb cb, void *ud)
{
	return nsp ? set_handler(&nsp->handlers, event, cb, ud) : SIOS_EINVAL;
}

SIOS_EXPORT void sios_nsp_on_any(sios_nsp *nsp, sios_event_cb cb, void *ud)
{
	if (nsp) {
		nsp->on_any = cb;
		nsp->any_ud = ud;
	}
}

SIOS_EXPORT sios_socket *sios_nsp_socket(sios_nsp *nsp, const char *id)
{
	return nsp && id ? sios__map_get(&nsp->sockets, id) : NULL;
}

/* ---- sockets: public ------------------------------------------------- */

SIOS_EXPORT int sios_socket_on(sios_socket *s, const char *event, sios_event_cb cb, void *ud)
{
	return s ? set_handler(&s->handlers, event, cb, ud) : SIOS_EINVAL;
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

static int check_event_name(const char *event)
{
	return event && *event && !sios__reserved_event(event);
}

SIOS_EXPORT int sios_emit(sios_socket *s, const char *event, const cJSON *args,
			  const sios_binary *bins, size_t nbins)
{
	sios__frame f;
	int r;

	if (!s || !check_event_name(event) || (nbins && !bins))
		return SIOS_EINVAL;
	if (!s->connected)
		return SIOS_ECLOSED;
	r = sios__encode_message(&f, LWS_PRE, 0, s->nsp->name, -1, event, args, bins, nbins);
	if (r)
		return r;
	r = send_frame(s->client, &f);
	sios__frame_clear(&f);
	return r;
}

static void ack_timeout(sios__timer *t)
{
	struct sios__pending_ack *a = container_of(t, struct sios__pending_ack, timer);
	sios_socket *s = a->sock;
	sios_server *srv = s->nsp->srv;
	struct sios__pending_ack **pp;

	ENTER(srv);
	for (pp = &s->acks; *pp; pp = &(*pp)->next)
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	a->cb(s, SIOS_ETIMEDOUT, NULL, a->ud);
	free(a);
	LEAVE(srv);
}

SIOS_EXPORT int sios_emit_with_ack(sios_socket *s, const char *event, const cJSON *args,
				   const sios_binary *bins, size_t nbins, unsigned timeout_ms,
				   sios_ack_cb cb, void *ud)
{
	struct sios__pending_ack *a;
	sios__frame f;
	int r;

	if (!s || !cb || !check_event_name(event) || (nbins && !bins))
		return SIOS_EINVAL;
	if (!s->connected)
		return SIOS_ECLOSED;
	a = calloc(1, sizeof(*a));
	if (!a)
		return SIOS_ENOMEM;
	a->id = s->next_ack++;
	r = sios__encode_message(&f, LWS_PRE, 0, s->nsp->name, a->id, event, args, bins, nbins);
	if (!r) {
		r = send_frame(s->client, &f);
		sios__frame_clear(&f);
	}
	if (r) {
		free(a);
		return r;
	}
	a->cb = cb;
	a->ud = ud;
	a->sock = s;
	sios__timer_init(&a->timer, ack_timeout);
	a->next = s->acks;
	s->acks = a;
	if (timeout_ms)
		sios__loop_timer_add(&s->nsp->srv->loop, &a->timer, timeout_ms);
	return 0;
}

SIOS_EXPORT int sios_socket_disconnect(sios_socket *s, int close_connection)
{
	sios_server *srv;
	sios__client *c;

	if (!s)
		return SIOS_EINVAL;
	if (!s->connected)
		return SIOS_ECLOSED;
	srv = s->nsp->srv;
	c = s->client;
	ENTER(srv);
	send_simple(c, SIOS__P_DISCONNECT, s->nsp->name, NULL);
	socket_gone(s, SIOS_REASON_SERVER_NAMESPACE_DISCONNECT);
	if (close_connection && !c->closed)
		sios_eio_close(c->conn);
	LEAVE(srv);
	return 0;
}

SIOS_EXPORT const char *sios_socket_id(const sios_socket *s) { return s ? s->id : NULL; }

SIOS_EXPORT sios_nsp *sios_socket_nsp(const sios_socket *s) { return s ? s->nsp : NULL; }

SIOS_EXPORT const cJSON *sios_socket_auth(const sios_socket *s) { return s ? s->auth : NULL; }

SIOS_EXPORT const char *sios_socket_header(const sios_socket *s, const char *name)
{
	return s && !s->client->closed ? sios_eio_conn_header(s->client->conn, name) : NULL;
}

SIOS_EXPORT const char *sios_socket_query(const sios_socket *s, const char *key)
{
	return s && !s->client->closed ? sios_eio_conn_query(s->client->conn, key) : NULL;
}

SIOS_EXPORT const char *sios_socket_remote_addr(const sios_socket *s)
{
	return s && !s->client->closed ? sios_eio_conn_remote_addr(s->client->conn) : NULL;
}

SIOS_EXPORT unsigned sios_socket_transport(const sios_socket *s)
{
	return s && !s->client->closed ? sios_eio_conn_transport(s->client->conn) : 0;
}

SIOS_EXPORT void sios_socket_set_userdata(sios_socket *s, void *ud)
{
	if (s)
		s->user = ud;
}

SIOS_EXPORT void *sios_socket_userdata(const sios_socket *s) { return s ? s->user : NULL; }

/* ---- events and acks ------------------------------------------------- */

SIOS_EXPORT cJSON *sios_binary_placeholder(int num)
{
	cJSON *o;

	if (num < 0)
		return NULL;
	o = cJSON_CreateObject();
	if (o && (!cJSON_AddTrueToObject(o, "_placeholder") ||
		  !cJSON_AddNumberToObject(o, "num", num))) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

SIOS_EXPORT const char *sios_event_name(const sios_event *ev) { return ev ? ev->name : NULL; }

SIOS_EXPORT const cJSON *sios_event_args(const sios_event *ev) { return ev ? ev->args : NULL; }

SIOS_EXPORT size_t sios_event_count(const sios_event *ev)
{
	return ev ? (size_t)cJSON_GetArraySize(ev->args) : 0;
}

SIOS_EXPORT const cJSON *sios_event_arg(const sios_event *ev, size_t i)
{
	return ev && i < (size_t)cJSON_GetArraySize(ev->args) ? cJSON_GetArrayItem(ev->args, (int)i)
							       : NULL;
}

SIOS_EXPORT const sios_binary *sios_event_binary(const sios_event *ev, const cJSON *node)
{
	int num;

	if (!ev || !sios__is_placeholder(node, ev->nbins, &num))
		return NULL;
	return &ev->bins[num];
}

SIOS_EXPORT const sios_binary *sios_event_binaries(const sios_event *ev)
{
	return ev && ev->nbins ? ev->bins : NULL;
}

SIOS_EXPORT size_t sios_event_binary_count(const sios_event *ev) { return ev ? ev->nbins : 0; }

SIOS_EXPORT sios_ack *sios_event_ack(const sios_event *cev)
{
	struct sios_event *ev = (struct sios_event *)cev;
	sios_ack *a;

	if (!ev || ev->ack_id < 0 || ev->ack_taken)
		return NULL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	ev->ack_taken = 1;
	a->nsp = ev->nsp;
	memcpy(a->sid, ev->sid, sizeof(a->sid));
	a->id = ev->ack_id;
	return a;
}

SIOS_EXPORT int sios_ack_send(sios_ack *a, const cJSON *args, const sios_binary *bins,
			      size_t nbins)
{
	sios_socket *s;
	sios__frame f;
	int r;

	if (!a || (nbins && !bins) || (args && !cJSON_IsArray(args)))
		return SIOS_EINVAL;
	s = sios__map_get(&a->nsp->sockets, a->sid);
	if (!s || !s->connected) {
		free(a);
		return SIOS_ECLOSED;
	}
	r = sios__encode_message(&f, LWS_PRE, 1, s->nsp->name, a->id, NULL, args, bins, nbins);
	if (!r) {
		r = send_frame(s->client, &f);
		sios__frame_clear(&f);
	}
	free(a);
	return r;
}

SIOS_EXPORT void sios_ack_drop(sios_ack *a) { free(a); }
