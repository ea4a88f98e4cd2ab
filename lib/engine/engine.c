/* The lws protocol callback that dispatches to the transports, the
 * engine lifecycle, and the public raw Engine.IO API. */
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "engine_int.h"


sios__engine *sios__engine_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

void sios__pss_reset(struct pss *ps)
{
	free(ps->origin);
	free(ps->kill_msg);
	sios__str_free(&ps->body);
	sios__str_free(&ps->reply);
	memset(ps, 0, sizeof(*ps));
}

int sios__engine_accept_ok(sios__engine *e, size_t pending)
{
	uint64_t now;

	if (e->stopping)
		return 0;
	if (!e->fd_cap || e->live_conns + (long)pending < (long)e->fd_cap)
		return 1;
	e->stats.refused_connections++;
	now = sios__now_ms();
	if (now - e->last_refuse_log > 1000) {
		e->last_refuse_log = now;
		sios__log(SIOS__LOG_WARN, "connection limit (%u) reached: refusing connections",
			  e->fd_cap);
	}
	return 0;
}

int sios__engine_lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
			size_t len)
{
	sios__engine *e = sios__engine_of(wsi);
	struct pss *ps = user;
	int r = 0;

	if (!e)
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	ENTER(e);
	switch (reason) {
	case LWS_CALLBACK_WSI_CREATE:
		e->live_conns++;
		break;
	case LWS_CALLBACK_WSI_DESTROY:
		if (e->live_conns > 0)
			e->live_conns--;
		if (e->nheld)
			sios__req_wsi_gone(e, wsi);
		break;
	case LWS_CALLBACK_HTTP:
		r = sios__handle_http(e, wsi, ps, in ? (const char *)in : "");
		break;
	case LWS_CALLBACK_HTTP_BODY:
		/* lws restarts its timeout at every byte: a body sent a byte at a
		 * time would hold the connection for ever; the whole request has
		 * request_timeout */
		if (sios__now_ms() - ps->started > e->o.request_timeout) {
			session *s = ps->kind == K_POST ? ps->s : NULL;

			sios__log_limited(SIOS__LOG_INFO, "a request body took over %u ms, closing",
					  e->o.request_timeout);
			ps->kind = K_NONE;
			ps->s = NULL;
			if (s) {
				s->post_wsi = NULL;
				sios__session_close(s, SIOS_REASON_TRANSPORT_ERROR);
			}
			sios__http_error(wsi, ps->origin, 3, "Request timeout", 408, HANG_UP);
			r = -1;
			break;
		}
		if (ps->kind == K_DISCARD) {
			ps->discarded += len;
			if (ps->discarded > 8 * e->o.max_payload + 65536)
				r = -1;
		} else if (ps->kind == K_POST) {
			if (ps->body.len + len > e->o.max_payload) {
				/* Content-Length lied: stop here */
				session *s = ps->s;

				ps->kind = K_NONE;
				ps->s = NULL;
				if (s) {
					s->post_wsi = NULL;
					sios__session_close(s, SIOS_REASON_TRANSPORT_ERROR);
				}
				sios__http_reply(wsi, ps->origin, 413, "application/json",
					   "{\"code\":3,\"message\":\"Payload too large\"}", 40,
					   HANG_UP);
				r = -1;
			} else if (sios__str_add(&ps->body, in, len)) {
				r = -1;
			}
		}
		break;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		r = sios__handle_post_done(e, wsi, ps);
		break;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		r = sios__get_writable(e, wsi, ps);
		break;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		/* lws frees ps after either: let go of everything it holds */
		if (ps)
			sios__http_closed(e, ps, wsi);
		break;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		/* user is NULL here */
		if (!in || strcasecmp((const char *)in, "websocket")) {
			r = -1;
			break;
		}
		r = sios__confirm_upgrade(e, wsi);
		break;
	case LWS_CALLBACK_ESTABLISHED:
		r = sios__ws_established(e, wsi, ps);
		break;
	case LWS_CALLBACK_RECEIVE:
		r = sios__ws_receive(e, wsi, ps, in, len);
		break;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		r = sios__ws_writable(e, wsi, ps);
		break;
	case LWS_CALLBACK_CLOSED:
		if (ps)
			sios__ws_closed(e, ps, wsi);
		break;
	default:
		r = lws_callback_http_dummy(wsi, reason, user, in, len);
		break;
	}
	LEAVE(e);
	return r;
}

void sios__engine_opts_free(sios__engine_opts *o)
{
	sios__strv_free(&o->cors_origins, &o->n_cors);
	sios__strv_free(&o->keep_headers, &o->n_keep);
}

int sios__engine_opts_copy(sios__engine_opts *dst, const sios__engine_opts *src)
{
	*dst = *src;
	if (sios__strv_copy(&dst->cors_origins, &dst->n_cors, src->cors_origins, src->n_cors) ||
	    sios__strv_copy(&dst->keep_headers, &dst->n_keep, src->keep_headers, src->n_keep)) {
		sios__engine_opts_free(dst);
		return SIOS_ENOMEM;
	}
	return 0;
}

int sios__engine_init(sios__engine *e, sios__loop *loop, const sios__engine_opts *o)
{
	struct rlimit rl;
	int r;

	memset(e, 0, sizeof(*e));
	/* one protocol serves both HTTP and websocket: clients name none */
	e->protocols[0].name = "sios";
	e->protocols[0].callback = sios__engine_lws_cb;
	e->protocols[0].per_session_data_size = sizeof(struct pss);
	/* The receive buffer is allocated per connection, and lws 4.1.6 also
	 * reads at most that much per socket per loop iteration. Measured: 256
	 * bytes cost 3.4 KB per idle client and 1.0M deliveries/s on fanout_w16
	 * (16 broadcasts from one client need several reads); 1024 bytes cost
	 * 4.1 KB and give 2.2M. Sends are not capped to it: lws caps send() at
	 * rx_buffer_size unless tx_packet_size is set. */
	e->protocols[0].rx_buffer_size = 1024;
	e->protocols[0].tx_packet_size = 256 * 1024 + 64;
	e->loop = loop;
	r = sios__engine_opts_copy(&e->o, o);
	if (r)
		return r;
	sios__map_init(&e->sessions);
	if (!e->o.max_queue_bytes)
		e->o.max_queue_bytes = 4u << 20;
	if (!e->o.max_queue_packets)
		e->o.max_queue_packets = 65536;
	if (!e->o.low_water || e->o.low_water >= e->o.max_queue_bytes)
		e->o.low_water = e->o.max_queue_bytes / 4;
	/* stay below the descriptor limit, so accept() never fails and spins */
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur != RLIM_INFINITY)
		e->fd_cap = rl.rlim_cur > 96 ? (unsigned)(rl.rlim_cur - 32) : (unsigned)rl.rlim_cur * 2 / 3;
	return 0;
}

void sios__engine_shutdown(sios__engine *e)
{
	size_t it = 0;
	session *s;

	ENTER(e);
	e->stopping = 1;
	while ((s = sios__map_next(&e->sessions, &it)))
		sios__session_close(s, SIOS_REASON_SERVER_SHUTDOWN);
	LEAVE(e);
}

int sios__engine_drained(sios__engine *e) { return e->sessions.len == 0; }

void sios__engine_free(sios__engine *e)
{
	size_t it = 0;
	session *s;

	ENTER(e);
	while ((s = sios__map_next(&e->sessions, &it))) {
		if (s->state == SIOS__S_OPEN)
			sios__session_close(s, SIOS_REASON_SERVER_SHUTDOWN);
		sios__session_finalize(s);
	}
	LEAVE(e);
	sios__map_free(&e->sessions);
	while (e->held) {
		struct sios_request *req = e->held;

		e->held = req->next;
		sios__req_free(req);
	}
	e->nheld = 0;
	free(e->wbuf);
	e->wbuf = NULL;
	while (e->eps) {
		sios_eio *ep = e->eps;

		e->eps = ep->next;
		free(ep->path);
		free(ep);
	}
	sios__engine_opts_free(&e->o);
}

int sios__engine_mount(sios__engine *e, const char *path, sios_eio **out)
{
	sios_eio *ep;
	size_t n;

	if (!path || path[0] != '/' || strchr(path, '?'))
		return SIOS_EINVAL;
	n = strlen(path);
	ep = calloc(1, sizeof(*ep));
	if (!ep)
		return SIOS_ENOMEM;
	ep->path = malloc(n + 2);
	if (!ep->path) {
		free(ep);
		return SIOS_ENOMEM;
	}
	memcpy(ep->path, path, n + 1);
	if (path[n - 1] != '/') {
		ep->path[n++] = '/';
		ep->path[n] = 0;
	}
	ep->path_len = n;
	for (sios_eio *o = e->eps; o; o = o->next)
		if (!strcmp(o->path, ep->path)) {
			free(ep->path);
			free(ep);
			return SIOS_EEXIST;
		}
	ep->eng = e;
	ep->next = e->eps;
	e->eps = ep;
	*out = ep;
	return 0;
}

SIOS_EXPORT void sios_eio_open_callback_set(sios_eio *ep, sios_eio_open_cb cb, void *ud)
{
	if (ep) {
		ep->on_open = cb;
		ep->open_ud = ud;
	}
}

SIOS_EXPORT void sios_eio_message_callback_set(sios_eio *ep, sios_eio_message_cb cb, void *ud)
{
	if (ep) {
		ep->on_message = cb;
		ep->message_ud = ud;
	}
}

SIOS_EXPORT void sios_eio_close_callback_set(sios_eio *ep, sios_eio_close_cb cb, void *ud)
{
	if (ep) {
		ep->on_close = cb;
		ep->close_ud = ud;
	}
}

static int send_msg(session *s, const void *data, size_t len, int binary)
{
	sios__buf *b;
	int r;

	if (s && SIOS__OFF_LOOP(s->eng->loop))
		return SIOS_EMISUSE;
	if (!s || (!data && len))
		return SIOS_EINVAL;
	if (s->state != SIOS__S_OPEN)
		return SIOS_ECLOSED;
	b = sios__buf_new(LWS_PRE, len + 1);
	if (!b)
		return SIOS_ENOMEM;
	if (binary) {
		if (len)
			memcpy(b->data, data, len);
		b->len = len;
	} else {
		b->data[0] = '4';
		if (len)
			memcpy(b->data + 1, data, len);
		b->len = len + 1;
	}
	r = sios__session_push(s, b, binary);
	sios__buf_unref(b);
	return r;
}

SIOS_EXPORT int sios_eio_send_text(sios_eio_conn *c, const char *text, size_t len)
{
	return send_msg(c, text, len, 0);
}

SIOS_EXPORT int sios_eio_send_binary(sios_eio_conn *c, const void *data, size_t len)
{
	return send_msg(c, data, len, 1);
}

SIOS_EXPORT int sios_eio_close(sios_eio_conn *c)
{
	if (c && SIOS__OFF_LOOP(c->eng->loop))
		return SIOS_EMISUSE;
	if (!c)
		return SIOS_EINVAL;
	if (c->state != SIOS__S_OPEN)
		return SIOS_ECLOSED;
	sios__session_close(c, SIOS_REASON_FORCED_CLOSE);
	return 0;
}

SIOS_EXPORT const char *sios_eio_conn_id(const sios_eio_conn *c) { return c ? c->sid : NULL; }

SIOS_EXPORT unsigned sios_eio_conn_transport(const sios_eio_conn *c)
{
	return c ? c->transport : 0;
}

SIOS_EXPORT const char *sios_eio_conn_header(const sios_eio_conn *c, const char *name)
{
	return c && name ? sios__kv_get(&c->headers, name, 1) : NULL;
}

SIOS_EXPORT const char *sios_eio_conn_query(const sios_eio_conn *c, const char *key)
{
	return c && key ? sios__kv_get(&c->query, key, 0) : NULL;
}

SIOS_EXPORT const char *sios_eio_conn_remote_addr(const sios_eio_conn *c)
{
	return c ? c->remote : NULL;
}

SIOS_EXPORT const cJSON *sios_eio_conn_handshake(const sios_eio_conn *cc)
{
	sios_eio_conn *c = (sios_eio_conn *)cc; /* the object is built once, on demand */

	if (!c)
		return NULL;
	if (!c->handshake)
		c->handshake = sios__handshake_object(c->eng, c->ep, &c->headers, &c->query, c->remote,
						c->created);
	return c->handshake;
}

SIOS_EXPORT void sios_eio_conn_set_userdata(sios_eio_conn *c, void *ud)
{
	if (c)
		c->user = ud;
}

SIOS_EXPORT void *sios_eio_conn_userdata(const sios_eio_conn *c) { return c ? c->user : NULL; }

const struct lws_protocols *sios__engine_protocols(sios__engine *e) { return e->protocols; }

void sios__eio_drain_callback_set(sios_eio *ep, sios__drain_cb cb, void *ud)
{
	ep->on_drain = cb;
	ep->drain_ud = ud;
}
