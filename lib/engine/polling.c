/* The long-polling transport: handshakes, held GETs, POSTed payloads. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine_int.h"

/* The reply to a decided polling handshake: a new session and its open
 * packet (*status 0), or the JSON error and its HTTP status. */
session *sios__polling_open(sios__engine *e, struct sios_request *req, sios__str *out,
			     int *status)
{
	session *s = NULL;

	if (req->state == REQ_REJECTED) {
		*status = 403;
		sios__http_error_body(out, 4, req->message ? req->message : "Forbidden");
	} else if (sios__sessions_full(e)) {
		e->stats.refused_connections++;
		*status = 503;
		sios__http_error_body(out, 3, "Server is full");
	} else if (!(s = sios__session_new(e, req))) {
		*status = 500;
		sios__http_error_body(out, 3, "Out of memory");
	} else {
		*status = 0;
		sios__handshake_json(e, s, 0, out);
	}
	return s;
}

static int handle_get(sios__engine *e, struct lws *wsi, struct pss *ps, sios_eio *ep,
		      sios__kv *q, session *s)
{
	if (!s) {
		/* handshake */
		struct sios_request *req;
		int status, r;
		sios__str out;

		if (sios__sessions_full(e)) {
			e->stats.refused_connections++;
			return sios__http_error(wsi, ps->origin, 3, "Server is full", 503, KEEP_ALIVE);
		}
		req = sios__req_new(e, ep, wsi, q, SIOS_TRANSPORT_POLLING);
		if (!req)
			return sios__http_error(wsi, ps->origin, 3, "Out of memory", 500, HANG_UP);
		if (sios__run_allow_request(e, req) == REQ_DEFERRED) {
			/* held until the application decides (sios__request_decide) */
			ps->kind = K_HELD;
			ps->req = req;
			req->ps = ps;
			sios__hold(e, wsi, ps);
			return 0;
		}
		sios__str_init(&out);
		s = sios__polling_open(e, req, &out, &status);
		sios__req_free(req);
		r = status ? sios__http_reply(wsi, ps->origin, (unsigned)status, "application/json", out.p,
					out.len, KEEP_ALIVE)
			   : sios__http_payload(wsi, ps->origin, out.p, out.len);
		sios__str_free(&out);
		if (s)
			sios__session_opened(s);
		return r;
	}
	if (s->transport != SIOS_TRANSPORT_POLLING)
		return sios__http_error(wsi, ps->origin, 3, NULL, 400, KEEP_ALIVE);
	if (s->get_wsi) {
		/* two GETs at once: the session is broken */
		int r = sios__http_error(wsi, ps->origin, 3, NULL, 400, KEEP_ALIVE);

		sios__log(SIOS__LOG_INFO, "session %s: overlapping GET requests", s->sid);
		sios__session_close(s, SIOS_REASON_TRANSPORT_ERROR);
		return r;
	}
	if (s->state == SIOS__S_CLOSING) {
		/* a lingering close: first what is queued, then the close packet */
		sios__str out;
		int r, last = !s->q.len;

		sios__str_init(&out);
		if (last)
			sios__str_addc(&out, '1');
		else
			sios__queue_drain_payload(e, &s->q, &out);
		r = out.oom ? -1 : sios__http_payload(wsi, ps->origin, out.p, out.len);
		sios__str_free(&out);
		if (last)
			sios__session_finalize(s);
		return r;
	}
	if (s->q.len) {
		sios__str out;
		int r;

		sios__str_init(&out);
		sios__queue_drain_payload(e, &s->q, &out);
		sios__session_check_drain(s);
		r = out.oom ? -1 : sios__http_payload(wsi, ps->origin, out.p, out.len);
		sios__str_free(&out);
		return r;
	}
	/* hold it until there is something to send */
	ps->kind = K_GET;
	ps->s = s;
	s->get_wsi = wsi;
	sios__hold(e, wsi, ps);
	return 0;
}

/* Refuse a POST: answer now, then read and drop its body before hanging up,
 * so the client is not reset before it has read the answer. */
static int post_refuse(struct lws *wsi, struct pss *ps, int code, const char *msg,
		       unsigned status, int has_body)
{
	ps->kind = K_DISCARD;
	ps->s = NULL;
	return sios__http_error(wsi, ps->origin, code, msg, status, has_body ? LEAVE_OPEN : HANG_UP);
}

static int post_has_body(struct lws *wsi)
{
	char clen[32] = "";
	int l = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);

	if (l > 0 && l < (int)sizeof(clen))
		lws_hdr_copy(wsi, clen, sizeof(clen), WSI_TOKEN_HTTP_CONTENT_LENGTH);
	return strtoull(clen, NULL, 10) > 0;
}

static int is_octet_stream(struct lws *wsi)
{
	char v[32] = "";
	int l = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE);

	return l == 24 && lws_hdr_copy(wsi, v, sizeof(v), WSI_TOKEN_HTTP_CONTENT_TYPE) > 0 &&
	       !strcasecmp(v, "application/octet-stream");
}

static int handle_post_start(sios__engine *e, struct lws *wsi, struct pss *ps, session *s)
{
	int clen_l = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH);
	char clen[32] = "";
	unsigned long long cl;

	if (clen_l > 0 && clen_l < (int)sizeof(clen))
		lws_hdr_copy(wsi, clen, sizeof(clen), WSI_TOKEN_HTTP_CONTENT_LENGTH);
	cl = strtoull(clen, NULL, 10);
	if (!s)
		return post_refuse(wsi, ps, 1, NULL, 400, cl > 0);
	if (s->transport != SIOS_TRANSPORT_POLLING || s->state != SIOS__S_OPEN)
		return post_refuse(wsi, ps, 3, NULL, 400, cl > 0);
	if (cl > e->o.max_payload) {
		sios__log(SIOS__LOG_INFO, "session %s: POST of %llu bytes refused", s->sid, cl);
		sios__session_close(s, SIOS_REASON_TRANSPORT_ERROR);
		return post_refuse(wsi, ps, 3, "Payload too large", 413, 1);
	}
	if (cl == 0)
		return post_refuse(wsi, ps, 3, NULL, 400, 0);
	if (is_octet_stream(wsi)) {
		/* binary POST bodies are Engine.IO v3's; v4 sends binary as
		 * b+base64. Node answers 400 with no body and closes the session */
		int r;

		ps->kind = K_DISCARD;
		ps->s = NULL;
		r = sios__http_reply(wsi, ps->origin, 400, NULL, NULL, 0, LEAVE_OPEN);
		sios__session_protocol_error(s, "binary POST body (application/octet-stream)");
		return r;
	}
	if (s->post_wsi) {
		int r = post_refuse(wsi, ps, 3, NULL, 400, 1);

		sios__log(SIOS__LOG_INFO, "session %s: overlapping POST requests", s->sid);
		sios__session_close(s, SIOS_REASON_TRANSPORT_ERROR);
		return r;
	}
	ps->kind = K_POST;
	ps->s = s;
	s->post_wsi = wsi;
	return 0;
}

int sios__handle_post_done(sios__engine *e, struct lws *wsi, struct pss *ps)
{
	session *s = ps->s;
	int r;

	if (ps->kind != K_POST)
		return -1; /* a refused POST, fully read: hang up now */
	ps->kind = K_NONE;
	ps->s = NULL;
	if (!s)
		return sios__http_error(wsi, ps->origin, 1, NULL, 400, KEEP_ALIVE);
	s->post_wsi = NULL;
	e->stats.bytes_in += ps->body.len;
	if (!sios__utf8_valid(ps->body.p, ps->body.len)) {
		/* a payload is text (binary travels as b+base64): what is not
		 * UTF-8 must not reach other clients */
		sios__str_free(&ps->body);
		sios__session_protocol_error(s, "invalid UTF-8 in a polling payload");
		return sios__http_error(wsi, ps->origin, 3, NULL, 400, KEEP_ALIVE);
	}
	r = sios__eio_payload_decode(ps->body.p ? ps->body.p : "", ps->body.len, sios__payload_pkt_cb, s);
	if (ps->body.len >= 65536)
		sios__trim_note(ps->body.len);
	sios__str_free(&ps->body);
	if (r < 0) {
		sios__session_protocol_error(s, "malformed polling payload");
		return sios__http_error(wsi, ps->origin, 3, NULL, 400, KEEP_ALIVE);
	}
	if (s->state != SIOS__S_OPEN && s->reason == SIOS_REASON_PARSE_ERROR)
		/* a packet of this POST broke the protocol (at the Socket.IO
		 * layer too): the client learns it here, not from a later GET */
		return sios__http_error(wsi, ps->origin, 3, NULL, 400, KEEP_ALIVE);
	return sios__http_reply(wsi, ps->origin, 200, "text/html", "ok", 2, NO_STORE);
}

int sios__handle_http(sios__engine *e, struct lws *wsi, struct pss *ps, const char *uri)
{
	int is_get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
	int is_post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
	int is_options = lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0;
	sios_eio *ep = sios__find_ep(e, uri, strlen(uri));
	sios__kv q;
	session *s;
	int code, status, r;

	sios__pss_reset(ps);
	ps->origin = sios__hdr_token(wsi, WSI_TOKEN_ORIGIN);
	ps->conn_close = sios__request_wants_close(wsi);
	ps->started = sios__now_ms();
	if (!ep)
		return sios__app_http(e, wsi, ps, uri);
	ps->ep = ep;
	if (is_options)
		return sios__handle_options(e, wsi, ps);
	if (sios__parse_query(wsi, &q))
		return -1;
	code = sios__verify_request(e, &q, SIOS_TRANSPORT_POLLING, &s, &status);
	if (code >= 0) {
		sios__kv_free(&q);
		if (is_post)
			return post_refuse(wsi, ps, code, NULL, status, post_has_body(wsi));
		return sios__http_error(wsi, ps->origin, code, NULL, status, KEEP_ALIVE);
	}
	if (!s && !is_get)
		r = is_post ? post_refuse(wsi, ps, 2, NULL, 400, post_has_body(wsi))
			    : sios__http_error(wsi, ps->origin, 2, NULL, 400, HANG_UP);
	else if (is_get)
		r = handle_get(e, wsi, ps, ep, &q, s);
	else if (is_post)
		r = handle_post_start(e, wsi, ps, s);
	else
		r = sios__http_error(wsi, ps->origin, 3, NULL, 400, HANG_UP);
	sios__kv_free(&q);
	return r;
}

int sios__get_writable(sios__engine *e, struct lws *wsi, struct pss *ps)
{
	session *s = ps->s;
	sios__str out;
	int r;

	if (ps->has_reply) {
		/* lws may free ps while completing the transaction: move out first */
		sios__str reply = ps->reply;
		char *origin = ps->origin;

		int status = ps->reply_status;

		sios__unhold(wsi, ps);
		sios__str_init(&ps->reply);
		ps->origin = NULL;
		ps->has_reply = 0;
		ps->reply_status = 0;
		ps->kind = K_NONE;
		r = status ? sios__http_reply(wsi, origin, (unsigned)status, "application/json", reply.p,
					reply.len, KEEP_ALIVE)
			   : sios__http_payload(wsi, origin, reply.p, reply.len);
		sios__str_free(&reply);
		free(origin);
		return r;
	}
	if (ps->kind != K_GET || !s || s->get_wsi != wsi || !s->q.len)
		return 0; /* spurious */
	sios__unhold(wsi, ps);
	sios__str_init(&out);
	sios__queue_drain_payload(e, &s->q, &out);
	s->get_wsi = NULL;
	ps->s = NULL;
	ps->kind = K_NONE;
	sios__session_check_drain(s);
	{
		char *origin = ps->origin;

		ps->origin = NULL;
		r = out.oom ? -1 : sios__http_payload(wsi, origin, out.p, out.len);
		free(origin);
	}
	sios__str_free(&out);
	return r;
}

/* answer the session's pending GET with a noop and let it go */
void sios__get_answer_noop(session *s)
{
	struct pss *gps = lws_wsi_user(s->get_wsi);

	if (gps) {
		sios__str_free(&gps->reply);
		sios__str_addc(&gps->reply, '6');
		gps->has_reply = 1;
		gps->s = NULL;
		lws_callback_on_writable(s->get_wsi);
	}
	s->get_wsi = NULL;
}

void sios__http_closed(sios__engine *e, struct pss *ps, struct lws *wsi)
{
	session *s = ps->s;

	sios__unhold(wsi, ps);
	if (ps->kind == K_HELD)
		sios__req_orphan(wsi);
	SIOS__UNUSED(e);
	ps->s = NULL;
	if (s) {
		if (s->get_wsi == wsi) {
			/* the client went away in the middle of a poll */
			s->get_wsi = NULL;
			if (s->state == SIOS__S_OPEN)
				sios__session_close(s, SIOS_REASON_TRANSPORT_CLOSE);
		}
		if (s->post_wsi == wsi)
			s->post_wsi = NULL;
	}
	sios__pss_reset(ps);
}

/* ---- held requests ---------------------------------------------------- */

/* While lws holds an HTTP transaction open it does not read the
 * connection, so when the client hangs up epoll reports it readable again
 * and again, and the loop spun until the next write (the next ping, up to
 * pingInterval later). A watcher of the hang-up alone (EPOLLRDHUP, on a
 * duplicate descriptor) closes the connection at once instead: the session
 * ends "transport close", as Node ends it. (lws_rx_flow_control() would
 * keep lws from seeing the hang-up, but in lws 4.1.6 it also keeps the
 * held reply from ever being written.) */
struct sios__hold {
	uv_poll_t poll;
	int fd;
	struct lws *wsi;
	struct pss *ps;
};

static void hold_freed(uv_handle_t *h)
{
	struct sios__hold *w = h->data;

	close(w->fd);
	free(w);
}

static void hold_stop(struct sios__hold *w)
{
	uv_poll_stop(&w->poll); /* libuv forgets the descriptor here */
	uv_close((uv_handle_t *)&w->poll, hold_freed);
}

static void hold_hangup(uv_poll_t *h, int status, int events)
{
	struct sios__hold *w = h->data;
	struct lws *wsi = w->wsi;

	SIOS__UNUSED(status);
	SIOS__UNUSED(events);
	w->ps->hold = NULL;
	hold_stop(w);
	/* closed now (this runs outside any lws callback): CLOSED_HTTP then
	 * ends the poll's session */
	lws_set_timeout(wsi, PENDING_TIMEOUT_KILLED_BY_PARENT, LWS_TO_KILL_SYNC);
}

void sios__hold(sios__engine *e, struct lws *wsi, struct pss *ps)
{
	struct sios__hold *w;
	int fd;

	lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	lws_http_headers_detach(wsi);
	if (ps->hold)
		return;
	fd = dup(lws_get_socket_fd(wsi));
	w = fd >= 0 ? calloc(1, sizeof(*w)) : NULL;
	if (!w || uv_poll_init_socket(e->loop->uv, &w->poll, fd)) {
		/* without a watcher the hang-up is seen at the next write */
		if (fd >= 0)
			close(fd);
		free(w);
		return;
	}
	w->fd = fd;
	w->wsi = wsi;
	w->ps = ps;
	w->poll.data = w;
	ps->hold = w;
	uv_poll_start(&w->poll, UV_DISCONNECT, hold_hangup);
}

void sios__unhold(struct lws *wsi, struct pss *ps)
{
	if (!ps->hold)
		return;
	SIOS__UNUSED(wsi);
	hold_stop(ps->hold);
	ps->hold = NULL;
}
