/* The websocket transport: upgrades and probes, receiving, and the
 * batched write path (many pre-framed messages per send). */
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

static void flush_dirty(sios__engine *e);

/* Close a websocket at its next writable callback, with a close frame:
 * status and a static reason, or an empty frame for
 * LWS_CLOSE_STATUS_NOSTATUS (what Node sends when it closes a session). */
void sios__ws_kill(struct lws *wsi, int status, const char *why)
{
	struct pss *ps = lws_wsi_user(wsi);

	if (ps) {
		ps->s = NULL;
		ps->kill = 1;
		ps->kill_status = status;
		ps->kill_why = why;
	}
	lws_callback_on_writable(wsi);
}

void sios__upgrade_cb(sios__timer *t)
{
	session *s = sios__container_of(t, session, upgrade_t);
	sios__engine *e = s->eng;
	uint64_t now = sios__now_ms();

	if (s->upgrade == SIOS__U_PROBED && now < s->upgrade_deadline) {
		if (s->get_wsi && !s->q.len)
			sios__get_answer_noop(s);
		sios__loop_timer_at(e->loop, &s->upgrade_t,
				    now + UPGRADE_CHECK_MS < s->upgrade_deadline
					    ? now + UPGRADE_CHECK_MS
					    : s->upgrade_deadline);
		return;
	}
	ENTER(e);
	if (s->probe_wsi) {
		sios__log(SIOS__LOG_INFO, "session %s: upgrade timed out", s->sid);
		sios__ws_kill(s->probe_wsi, LWS_CLOSE_STATUS_NOSTATUS, NULL);
		s->probe_wsi = NULL;
	}
	s->upgrade = SIOS__U_NONE;
	LEAVE(e);
}

void sios__engine_flush(sios__engine *e)
{
	/* Under fan-out load (many sockets to write), wait one more loop
	 * iteration, never two: input already waiting is handled first and its
	 * output shares the same send() per socket. Measured on fanout_w16:
	 * 1.3M -> 1.8-2.2M deliveries/s, p99 lower; small groups never wait. */
	if (e->ndirty > 256 && !e->deferred) {
		e->deferred = 1;
		sios__loop_request_flush(e->loop);
		return;
	}
	e->deferred = 0;
	ENTER(e);
	flush_dirty(e);
	LEAVE(e);
}

/* the answer to a refused upgrade; CONFIRM_UPGRADE then returns -1 */
static int upgrade_refuse(struct lws *wsi, int code, const char *msg, unsigned status)
{
	char *origin = sios__hdr_token(wsi, WSI_TOKEN_ORIGIN);

	sios__http_error(wsi, origin, code, msg, status, HANG_UP);
	free(origin);
	return -1;
}

int sios__confirm_upgrade(sios__engine *e, struct lws *wsi)
{
	int ulen = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI);
	char *uri;
	sios_eio *ep;
	sios__kv q;
	session *s;
	int code, status;

	if (ulen <= 0)
		return upgrade_refuse(wsi, 2, NULL, 400);
	uri = malloc((size_t)ulen + 1);
	if (!uri)
		return -1;
	lws_hdr_copy(wsi, uri, ulen + 1, WSI_TOKEN_GET_URI);
	ep = sios__find_ep(e, uri, strlen(uri));
	free(uri);
	if (!ep) {
		char *origin = sios__hdr_token(wsi, WSI_TOKEN_ORIGIN);

		sios__http_reply(wsi, origin, 404, "text/plain", "Not Found", 9, HANG_UP);
		free(origin);
		return -1;
	}
	if (sios__parse_query(wsi, &q))
		return -1;
	code = sios__verify_request(e, &q, SIOS_TRANSPORT_WEBSOCKET, &s, &status);
	if (code < 0 && !s) {
		struct sios_request *req;

		if (sios__sessions_full(e)) {
			e->stats.refused_connections++;
			sios__kv_free(&q);
			return upgrade_refuse(wsi, 3, "Server is full", 503);
		}
		if (e->o.allow_request) {
			req = sios__req_new(e, ep, wsi, &q, SIOS_TRANSPORT_WEBSOCKET);
			if (!req) {
				sios__kv_free(&q);
				return -1;
			}
			switch (sios__run_allow_request(e, req)) {
			case REQ_REJECTED: {
				int r = upgrade_refuse(wsi, 4, req->message, 403);

				sios__req_free(req);
				return r;
			}
			case REQ_ACCEPTED:
				/* kept (with its headers) for sios__ws_established */
				req->next = e->held;
				e->held = req;
				e->nheld++;
				break;
			default:
				/* deferred: lws cannot hold an upgrade, so it
				 * completes and the session opens (or the socket
				 * closes with 1008) when the application decides */
				break;
			}
			return 0;
		}
	}
	sios__kv_free(&q);
	if (code >= 0)
		return upgrade_refuse(wsi, code, NULL, status);
	/* a second websocket on a session already upgraded or upgrading is
	 * accepted and then closed (sios__ws_established), as Node does */
	if (s && s->transport == SIOS_TRANSPORT_POLLING && !e->o.allow_upgrades)
		return upgrade_refuse(wsi, 3, NULL, 400);
	return 0;
}

int sios__ws_established(sios__engine *e, struct lws *wsi, struct pss *ps)
{
	struct sios_request *req = NULL;
	sios__kv q;
	session *s;
	int code, status, r;
	int ulen = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI);
	char *uri;
	sios_eio *ep;

	sios__pss_reset(ps);
	if (ulen <= 0 || !(uri = malloc((size_t)ulen + 1)))
		return -1;
	lws_hdr_copy(wsi, uri, ulen + 1, WSI_TOKEN_GET_URI);
	ep = sios__find_ep(e, uri, strlen(uri));
	free(uri);
	if (!ep || sios__parse_query(wsi, &q))
		return -1;
	code = sios__verify_request(e, &q, SIOS_TRANSPORT_WEBSOCKET, &s, &status);
	if (code >= 0) {
		sios__kv_free(&q);
		return -1;
	}
	ps->ep = ep;
	if (s) {
		/* an upgrade of a polling session begins */
		sios__kv_free(&q);
		if (s->transport != SIOS_TRANSPORT_POLLING || s->state != SIOS__S_OPEN ||
		    s->upgrade != SIOS__U_NONE) {
			/* already upgraded, upgrading or closing: this one is
			 * closed with an empty close frame, the session goes on */
			sios__ws_kill(wsi, LWS_CLOSE_STATUS_NOSTATUS, NULL);
			return 0;
		}
		ps->kind = K_PROBE;
		ps->s = s;
		s->probe_wsi = wsi;
		s->upgrade = SIOS__U_PROBING;
		s->upgrade_deadline = sios__now_ms() + e->o.upgrade_timeout;
		sios__loop_timer_at(e->loop, &s->upgrade_t, s->upgrade_deadline);
		return 0;
	}
	/* the filter's request from CONFIRM_UPGRADE, or a new one */
	if (e->nheld) {
		for (req = e->held; req && req->wsi != wsi; req = req->next)
			;
	}
	if (req) {
		sios__kv_free(&q);
		if (req->state == REQ_DEFERRED) {
			ps->kind = K_WS_HELD;
			ps->req = req;
			req->ps = ps;
			return 0;
		}
		sios__req_unlink(req);
	} else if (!(req = sios__req_new(e, ep, wsi, &q, SIOS_TRANSPORT_WEBSOCKET))) {
		sios__kv_free(&q);
		return -1;
	}
	r = sios__ws_open(e, wsi, ps, req);
	sios__req_free(req);
	return r;
}

/* A websocket handshake decided: the session opens (its open packet
 * queued), or the socket closes with 1008 and the rejection's message. */
int sios__ws_open(sios__engine *e, struct lws *wsi, struct pss *ps, struct sios_request *req)
{
	session *s;
	sios__str out;
	int r;

	if (req->state == REQ_REJECTED || sios__sessions_full(e)) {
		ps->kill_msg = sios__strdup(req->state == REQ_REJECTED && req->message ? req->message
					    : req->state == REQ_REJECTED	    ? "Forbidden"
										    : "Server is full");
		sios__ws_kill(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, ps->kill_msg);
		return 0;
	}
	s = sios__session_new(e, req);
	if (!s)
		return -1;
	ps->kind = K_WS;
	ps->s = s;
	s->ws_wsi = wsi;
	sios__str_init(&out);
	sios__handshake_json(e, s, 1, &out);
	r = out.oom ? SIOS_ENOMEM : sios__session_push_copy(s, out.p, out.len, 0);
	sios__str_free(&out);
	if (r) {
		s->ws_wsi = NULL;
		ps->s = NULL;
		sios__session_finalize(s);
		return -1;
	}
	sios__session_opened(s);
	return 0;
}

static void probe_message(sios__engine *e, struct lws *wsi, struct pss *ps, const char *p,
			  size_t n, int binary)
{
	session *s = ps->s;

	if (!binary && n == 6 && !memcmp(p, "2probe", 6) && s->upgrade == SIOS__U_PROBING) {
		unsigned char buf[LWS_PRE + 6];

		memcpy(buf + LWS_PRE, "3probe", 6);
		/* tiny and first on this socket: written at once */
		lws_write(wsi, buf + LWS_PRE, 6, LWS_WRITE_TEXT);
		s->upgrade = SIOS__U_PROBED;
		/* a pending poll is answered by the 100 ms check (sios__upgrade_cb) */
		if (s->get_wsi && s->q.len)
			lws_callback_on_writable(s->get_wsi);
		if (sios__now_ms() + UPGRADE_CHECK_MS < s->upgrade_deadline)
			sios__loop_timer_add(e->loop, &s->upgrade_t, UPGRADE_CHECK_MS);
		return;
	}
	if (!binary && n == 1 && p[0] == '5' && s->upgrade == SIOS__U_PROBED) {
		sios__loop_timer_cancel(e->loop, &s->upgrade_t);
		s->upgrade = SIOS__U_NONE;
		s->transport = SIOS_TRANSPORT_WEBSOCKET;
		s->probe_wsi = NULL;
		s->ws_wsi = wsi;
		ps->kind = K_WS;
		if (s->get_wsi)
			sios__get_answer_noop(s);
		if (s->q.len || s->state == SIOS__S_CLOSING)
			lws_callback_on_writable(wsi); /* flush, and close if closing */
		return;
	}
	/* anything else aborts the upgrade; the polling session goes on */
	sios__log(SIOS__LOG_INFO, "session %s: bad upgrade sequence", s->sid);
	sios__loop_timer_cancel(e->loop, &s->upgrade_t);
	s->probe_wsi = NULL;
	s->upgrade = SIOS__U_NONE;
	sios__ws_kill(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, "bad upgrade sequence");
}

/* one whole websocket message */
static void ws_message(sios__engine *e, struct lws *wsi, struct pss *ps, const char *data,
		       size_t len, int binary)
{
	session *s = ps->s;

	e->stats.bytes_in += len;
	if (ps->kind == K_PROBE) {
		probe_message(e, wsi, ps, data, len, binary);
	} else {
		sios__eio_pkt pkt;

		if (sios__pong_overdue(s))
			return;
		if (sios__eio_decode(data, len, binary, &pkt) || pkt.type == SIOS__EIO_OPEN ||
		    pkt.type == SIOS__EIO_UPGRADE) {
			sios__session_protocol_error(s, "malformed Engine.IO packet");
		} else {
			sios__session_on_packet(s, &pkt);
		}
	}
}

int sios__ws_receive(sios__engine *e, struct lws *wsi, struct pss *ps, const void *in,
		      size_t len)
{
	session *s = ps->s;
	int whole;

	if (ps->kill || !s)
		return 0;
	/* a message that fits lws's receive buffer arrives in one piece: it is
	 * handled where lws put it, with no copy and no buffer of our own */
	whole = lws_is_first_fragment(wsi) && lws_is_final_fragment(wsi) &&
		!lws_remaining_packet_payload(wsi);
	if (lws_is_first_fragment(wsi)) {
		ps->body.len = 0;
		ps->rx_binary = lws_frame_is_binary(wsi);
	}
	if (ps->body.len + len > e->o.max_payload) {
		sios__log(SIOS__LOG_INFO, "session %s: websocket message over maxPayload", s->sid);
		lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE,
				 (unsigned char *)"message too large", 17);
		if (ps->kind == K_PROBE) {
			s->probe_wsi = NULL;
			s->upgrade = SIOS__U_NONE;
			sios__loop_timer_cancel(e->loop, &s->upgrade_t);
		} else {
			s->ws_wsi = NULL;
			sios__session_close(s, SIOS_REASON_TRANSPORT_ERROR);
		}
		ps->s = NULL;
		sios__str_free(&ps->body);
		return -1;
	}
	if (whole) {
		ws_message(e, wsi, ps, in, len, ps->rx_binary);
		return 0;
	}
	if (sios__str_add(&ps->body, in, len))
		return -1;
	if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
		return 0;
	ws_message(e, wsi, ps, ps->body.p, ps->body.len, ps->rx_binary);
	/* an idle socket keeps no reassembly buffer */
	sios__trim_note(ps->body.len);
	sios__str_free(&ps->body);
	return 0;
}

#define WS_BATCH (256 * 1024)

/* Many frames, one system call: queued packets are framed here (server
 * frames are unmasked, and permessage-deflate is off) into one buffer that
 * lws writes raw. */
static int ws_flush(sios__engine *e, struct lws *wsi, struct pss *ps)
{
	session *s = ps->s;
	sios__outpkt *p;
	size_t used = 0;

	/* lws holds what the kernel did not take and asks for writable itself;
	 * lws_send_pipe_choked() would cost a poll() per write */
	if (lws_partial_buffered(wsi)) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	/* a group (a packet and its attachments) is never split across writes */
	while ((p = sios__queue_peek(&s->q)) && (used == 0 || p->att || used + p->buf->len + 10 <= WS_BATCH)) {
		size_t n = p->buf->len, need = LWS_PRE + used + 10 + n;
		unsigned char *h;

		if (need > e->wcap) {
			size_t nc = e->wcap ? e->wcap : LWS_PRE + WS_BATCH + 16;
			unsigned char *nb;

			while (nc < need)
				nc *= 2;
			nb = realloc(e->wbuf, nc);
			if (!nb)
				break;
			e->wbuf = nb;
			e->wcap = nc;
		}
		h = e->wbuf + LWS_PRE + used;
		*h++ = (unsigned char)(0x80 | (p->binary ? 2 : 1));
		if (n < 126) {
			*h++ = (unsigned char)n;
		} else if (n < 65536) {
			*h++ = 126;
			*h++ = (unsigned char)(n >> 8);
			*h++ = (unsigned char)n;
		} else {
			*h++ = 127;
			for (int i = 7; i >= 0; i--)
				*h++ = (unsigned char)((uint64_t)n >> (8 * i));
		}
		memcpy(h, p->buf->data, n);
		used = (size_t)(h + n - (e->wbuf + LWS_PRE));
		e->stats.packets_out++;
		e->stats.bytes_out += n;
		e->ws_frames++;
		sios__queue_pop(&s->q);
	}
	if (used) {
		e->ws_writes++;
		if (lws_write(wsi, e->wbuf + LWS_PRE, used, LWS_WRITE_RAW) < 0) {
			s->ws_wsi = NULL;
			ps->s = NULL;
			if (s->state == SIOS__S_OPEN)
				sios__session_close(s, SIOS_REASON_TRANSPORT_ERROR);
			else
				sios__session_finalize(s);
			return -1;
		}
	}
	sios__session_check_drain(s);
	if (s->q.len) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	if (s->state == SIOS__S_CLOSING) {
		/* everything delivered: close cleanly */
		s->ws_wsi = NULL;
		ps->s = NULL;
		sios__session_finalize(s);
		ps->kill = 1;
		ps->kill_status = s->close_code;
		ps->kill_why = s->close_why;
		return -1;
	}
	return 0;
}

/* The close frame before the connection closes (the writable callback then
 * returns -1): status and reason, or an empty frame for
 * LWS_CLOSE_STATUS_NOSTATUS. Written raw, like the data frames: lws treats
 * -1 from a writable callback as a dead socket and would send nothing. */
static void ws_close_frame(struct lws *wsi, int status, const char *why)
{
	unsigned char f[LWS_PRE + 2 + 125], *p = f + LWS_PRE;
	size_t n = 0;

	if (status != LWS_CLOSE_STATUS_NOSTATUS) {
		size_t wl = why ? strlen(why) : 0;

		if (wl > 123)
			wl = 123; /* control frames carry at most 125 bytes */
		p[2] = (unsigned char)(status >> 8);
		p[3] = (unsigned char)status;
		if (wl)
			memcpy(p + 4, why, wl);
		n = 2 + wl;
	}
	p[0] = 0x88;
	p[1] = (unsigned char)n;
	lws_write(wsi, p, n + 2, LWS_WRITE_RAW);
}

int sios__ws_writable(sios__engine *e, struct lws *wsi, struct pss *ps)
{
	if (ps->kill) {
		ws_close_frame(wsi, ps->kill_status, ps->kill_why);
		return -1;
	}
	if (!ps->s || ps->kind != K_WS)
		return 0;
	if (ws_flush(e, wsi, ps) < 0) {
		ws_close_frame(wsi, ps->kill ? ps->kill_status : LWS_CLOSE_STATUS_NOSTATUS,
			       ps->kill ? ps->kill_why : NULL);
		return -1;
	}
	return 0;
}

/* Out of the current frame: write every dirty websocket session now, one
 * system call each, instead of a POLLOUT round trip per socket. */
static void flush_dirty(sios__engine *e)
{
	while (e->dirty) {
		session *s = e->dirty;
		struct lws *wsi = s->ws_wsi;
		struct pss *ps;

		sios__dirty_unlink(s);
		if (s->slow && s->state == SIOS__S_OPEN) {
			sios__session_close(s, SIOS_REASON_SLOW_CONSUMER);
			continue;
		}
		if (s->state == SIOS__S_DEAD || !wsi || s->transport != SIOS_TRANSPORT_WEBSOCKET)
			continue;
		ps = lws_wsi_user(wsi);
		if (!ps || ps->s != s || ps->kind != K_WS)
			continue;
		if (ws_flush(e, wsi, ps) < 0) {
			/* closing: lws does it from the writable callback */
			ps->kill = 1;
			ps->s = NULL;
			lws_callback_on_writable(wsi);
		}
	}
}

void sios__ws_closed(sios__engine *e, struct pss *ps, struct lws *wsi)
{
	session *s = ps->s;

	if (ps->kind == K_WS_HELD)
		sios__req_orphan(wsi);
	SIOS__UNUSED(e);
	ps->s = NULL;
	if (s) {
		if (s->probe_wsi == wsi) {
			s->probe_wsi = NULL;
			s->upgrade = SIOS__U_NONE;
			sios__loop_timer_cancel(e->loop, &s->upgrade_t);
		} else if (s->ws_wsi == wsi) {
			s->ws_wsi = NULL;
			if (s->state == SIOS__S_OPEN)
				sios__session_close(s, SIOS_REASON_TRANSPORT_CLOSE);
			else
				sios__session_finalize(s);
		}
	}
	sios__pss_reset(ps);
}
