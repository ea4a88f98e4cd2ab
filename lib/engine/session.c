/* Engine.IO sessions: the outbound queue, heartbeats, closing, and the
 * packets a session receives. Transport-independent. */
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

void sios__engine_reap(sios__engine *e)
{
	while (e->grave) {
		session *s = e->grave;

		e->grave = s->grave_next;
		free(s->headers.mem); /* kv blocks: pointers and strings */
		free(s->query.mem);
		cJSON_Delete(s->handshake);
		free(s);
	}
}

void sios__dirty_unlink(session *s)
{
	sios__engine *e = s->eng;

	if (!s->dirty)
		return;
	if (s->dirty_prev)
		s->dirty_prev->dirty_next = s->dirty_next;
	else
		e->dirty = s->dirty_next;
	if (s->dirty_next)
		s->dirty_next->dirty_prev = s->dirty_prev;
	s->dirty = 0;
	s->dirty_next = s->dirty_prev = NULL;
	e->ndirty--;
}

static int q_push(sios__outq *q, sios__buf *b, int binary, int att, size_t natts)
{
	if (q->len == q->cap) {
		size_t ncap = q->cap ? q->cap * 2 : 2; /* idle sockets hold one or two */
		sios__outpkt *nv = malloc(ncap * sizeof(*nv));

		if (!nv)
			return -1;
		for (size_t i = 0; i < q->len; i++)
			nv[i] = q->v[(q->head + i) % q->cap];
		free(q->v);
		q->v = nv;
		q->cap = ncap;
		q->head = 0;
	}
	q->v[(q->head + q->len) % q->cap] =
		(sios__outpkt){sios__buf_ref(b), (uint8_t)!!binary, (uint8_t)!!att, (uint32_t)natts};
	q->len++;
	q->bytes += b->len;
	return 0;
}

sios__outpkt *sios__queue_peek(sios__outq *q) { return q->len ? &q->v[q->head] : NULL; }

void sios__queue_pop(sios__outq *q)
{
	sios__outpkt *p = &q->v[q->head];

	q->bytes -= p->buf->len;
	sios__buf_unref(p->buf);
	q->head = (q->head + 1) % q->cap;
	q->len--;
}

/* drops the oldest packet and its attachments; returns how many went */
static size_t q_drop_group(sios__outq *q)
{
	size_t n = q->len ? 1 + q->v[q->head].natts : 0;

	for (size_t i = 0; i < n && q->len; i++)
		sios__queue_pop(q);
	return n;
}

static void q_free(sios__outq *q)
{
	while (q->len)
		sios__queue_pop(q);
	free(q->v);
	memset(q, 0, sizeof(*q));
}

/* all queued packets as one polling payload */
int sios__queue_drain_payload(sios__engine *e, sios__outq *q, sios__str *out)
{
	sios__outpkt *p;

	while ((p = sios__queue_peek(q))) {
		if (sios__eio_payload_append(out, p->buf->data, p->buf->len, p->binary))
			return -1;
		e->stats.packets_out++;
		sios__queue_pop(q);
	}
	return 0;
}

/* the reply a pending GET gets when its session ends */
static void get_final_reply(sios__engine *e, session *s, char last)
{
	struct lws *wsi = s->get_wsi;
	struct pss *ps = lws_wsi_user(wsi);

	s->get_wsi = NULL;
	if (!ps)
		return;
	sios__str_free(&ps->reply);
	sios__queue_drain_payload(e, &s->q, &ps->reply);
	if (last) {
		unsigned char c = (unsigned char)last;

		sios__eio_payload_append(&ps->reply, &c, 1, 0);
	}
	ps->has_reply = 1;
	ps->s = NULL;
	lws_callback_on_writable(wsi);
}

/* Forget the session: out of the table, transports detached, memory to the grave. */
void sios__session_finalize(session *s)
{
	sios__engine *e = s->eng;

	if (s->state == SIOS__S_DEAD)
		return;
	s->state = SIOS__S_DEAD;
	sios__dirty_unlink(s);
	sios__loop_timer_cancel(e->loop, &s->hb_t);
	sios__loop_timer_cancel(e->loop, &s->upgrade_t);
	sios__loop_timer_cancel(e->loop, &s->linger_t);
	sios__map_del(&e->sessions, s->sid);
	if (s->get_wsi)
		get_final_reply(e, s, s->close_pkt);
	if (s->post_wsi) {
		struct pss *ps = lws_wsi_user(s->post_wsi);

		if (ps)
			ps->s = NULL;
		s->post_wsi = NULL;
	}
	if (s->ws_wsi) {
		sios__ws_kill(s->ws_wsi, s->close_code, s->close_why);
		s->ws_wsi = NULL;
	}
	if (s->probe_wsi) {
		sios__ws_kill(s->probe_wsi, LWS_CLOSE_STATUS_NOSTATUS, NULL);
		s->probe_wsi = NULL;
	}
	q_free(&s->q);
	e->stats.sessions_closed++;
	s->grave_next = e->grave;
	e->grave = s;
}

static void linger_cb(sios__timer *t)
{
	session *s = sios__container_of(t, session, linger_t);
	sios__engine *e = s->eng;

	ENTER(e);
	sios__session_finalize(s);
	LEAVE(e);
}

void sios__session_end(session *s, int reason, unsigned flags, int ws_code, const char *why)
{
	sios__engine *e = s->eng;
	int flush = !!(flags & SIOS__END_FLUSH);

	if (s->state != SIOS__S_OPEN)
		return;
	ENTER(e);
	s->state = SIOS__S_CLOSING;
	s->reason = reason;
	s->close_code = ws_code;
	s->close_why = why;
	e->nsessions--;
	sios__loop_timer_cancel(e->loop, &s->hb_t);
	sios__loop_timer_cancel(e->loop, &s->upgrade_t);
	/* A client that got "3probe" has paused polling and waits to finish the
	 * upgrade: a server close lets it finish, then flushes over websocket.
	 * Any other probe ends here. */
	if (s->probe_wsi && !(s->upgrade == SIOS__U_PROBED && flush)) {
		sios__ws_kill(s->probe_wsi, LWS_CLOSE_STATUS_NOSTATUS, NULL);
		s->probe_wsi = NULL;
		s->upgrade = SIOS__U_NONE;
	}
	if (s->ep->on_close)
		s->ep->on_close(s, reason, s->ep->close_ud);

	if (flush) {
		/* deliver what is queued, then close */
		s->close_pkt = '1';
		if (s->transport == SIOS_TRANSPORT_WEBSOCKET && s->ws_wsi) {
			lws_callback_on_writable(s->ws_wsi);
			sios__loop_timer_add(e->loop, &s->linger_t, e->o.ping_timeout);
		} else if (s->transport == SIOS_TRANSPORT_POLLING && (!s->get_wsi || s->q.len)) {
			/* the queue goes in one response, the close packet in the next:
			 * clients handle the packets before they see the close */
			if (s->get_wsi)
				lws_callback_on_writable(s->get_wsi);
			sios__loop_timer_add(e->loop, &s->linger_t, e->o.ping_timeout);
		} else {
			sios__session_finalize(s);
		}
	} else {
		if (!s->close_pkt)
			s->close_pkt = '1';
		sios__session_finalize(s);
	}
	LEAVE(e);
}

void sios__session_close(session *s, int reason)
{
	int flush = reason == SIOS_REASON_FORCED_CLOSE || reason == SIOS_REASON_SERVER_SHUTDOWN;

	sios__session_end(s, reason, flush ? SIOS__END_FLUSH : 0, LWS_CLOSE_STATUS_NOSTATUS, NULL);
}

/* A client broke the protocol: its session ends at once; a websocket gets
 * close code 1002 with why (a static string) as the reason. */
void sios__session_protocol_error(session *s, const char *why)
{
	sios__log_limited(SIOS__LOG_WARN, "session %s: %s, closing", s->sid, why);
	sios__session_end(s, SIOS_REASON_PARSE_ERROR, 0, LWS_CLOSE_STATUS_PROTOCOL_ERR, why);
}

static void mark_dirty(session *s)
{
	if (s->dirty)
		return;
	s->dirty = 1;
	s->dirty_prev = NULL;
	s->dirty_next = s->eng->dirty;
	if (s->dirty_next)
		s->dirty_next->dirty_prev = s;
	s->eng->dirty = s;
	s->eng->ndirty++;
	sios__loop_request_flush(s->eng->loop);
}

static void kick_writer(session *s)
{
	if (s->transport == SIOS_TRANSPORT_WEBSOCKET) {
		/* written directly at the end of this loop iteration */
		if (s->ws_wsi)
			mark_dirty(s);
	} else if (s->get_wsi) {
		lws_callback_on_writable(s->get_wsi);
	}
}

/* whether a packet queued now would go out at once */
static int session_ready(const session *s)
{
	if (s->state != SIOS__S_OPEN || s->upgrade != SIOS__U_NONE || s->q.len)
		return 0;
	return s->transport == SIOS_TRANSPORT_WEBSOCKET ? s->ws_wsi != NULL : s->get_wsi != NULL;
}

int sios__session_push_group(session *s, sios__buf *head, sios__buf **atts, size_t natts,
			     unsigned flags)
{
	sios__engine *e = s->eng;
	size_t bytes = head->len, npk = 1 + natts;

	if (s->state != SIOS__S_OPEN)
		return SIOS_ECLOSED;
	if (s->slow)
		return SIOS_EDROPPED;
	if ((flags & SIOS__PUSH_VOLATILE) && !session_ready(s)) {
		/* volatile: only for a client ready to take it now */
		e->stats.drops++;
		e->stats.volatile_drops++;
		return SIOS_EDROPPED;
	}
	for (size_t i = 0; i < natts; i++)
		bytes += atts[i]->len;
	if (s->q.bytes + bytes > e->o.max_queue_bytes || s->q.len + npk > e->o.max_queue_packets) {
		if (flags & SIOS__PUSH_VOLATILE) {
			e->stats.drops++;
			e->stats.volatile_drops++;
			return SIOS_EDROPPED;
		}
		if (e->o.slow_policy != SIOS_SLOW_DROP_OLDEST) {
			/* closed at the end of this iteration, not inside the caller's
			 * loop over recipients: the application's callbacks run then */
			e->stats.drops++;
			e->stats.slow_consumer_disconnects++;
			sios__log(SIOS__LOG_INFO, "session %s: outbound queue full (%zu bytes), closing",
				  s->sid, s->q.bytes);
			s->slow = 1;
			mark_dirty(s);
			return SIOS_EDROPPED;
		}
		while (s->q.len && (s->q.bytes + bytes > e->o.max_queue_bytes ||
				    s->q.len + npk > e->o.max_queue_packets))
			e->stats.drops += q_drop_group(&s->q);
		if (s->q.bytes + bytes > e->o.max_queue_bytes) {
			e->stats.drops++;
			return SIOS_EDROPPED; /* larger than the whole queue */
		}
	}
	if (q_push(&s->q, head, !!(flags & SIOS__PUSH_BINARY), 0, natts))
		return SIOS_ENOMEM;
	for (size_t i = 0; i < natts; i++)
		if (q_push(&s->q, atts[i], 1, 1, 0))
			return SIOS_ENOMEM;
	if (s->q.bytes > e->o.low_water)
		s->over_low = 1;
	kick_writer(s);
	return 0;
}

size_t sios__session_queued_bytes(const session *s) { return s->q.bytes; }

int sios__session_is_open(const session *s) { return s->state == SIOS__S_OPEN; }

int sios__session_push(session *s, sios__buf *buf, int binary)
{
	return sios__session_push_group(s, buf, NULL, 0, binary ? SIOS__PUSH_BINARY : 0);
}

/* the queue fell below the low-water mark after being above it */
void sios__session_check_drain(session *s)
{
	if (s->over_low && s->q.bytes <= s->eng->o.low_water && s->state == SIOS__S_OPEN) {
		s->over_low = 0;
		if (s->ep->on_drain)
			s->ep->on_drain(s, s->ep->drain_ud);
	}
}

int sios__session_push_copy(session *s, const char *type_and_data, size_t n, int binary)
{
	sios__buf *b = sios__buf_from(LWS_PRE, type_and_data, n);
	int r;

	if (!b)
		return SIOS_ENOMEM;
	r = sios__session_push(s, b, binary);
	sios__buf_unref(b);
	return r;
}

/* One timer per session for the heartbeat: it fires for the next ping, or,
 * once a ping is queued, at the pong deadline. */
static void heartbeat_cb(sios__timer *t)
{
	session *s = sios__container_of(t, session, hb_t);
	sios__engine *e = s->eng;

	ENTER(e);
	if (s->awaiting_pong) {
		sios__log(SIOS__LOG_DEBUG, "session %s: ping timeout", s->sid);
		sios__session_close(s, SIOS_REASON_PING_TIMEOUT);
	} else if (sios__session_push_copy(s, "2", 1, 0) == 0) {
		/* the pong deadline counts from when the ping was due, not from
		 * this (wheel-rounded, possibly late) tick: a session is dead at
		 * exactly pingInterval + pingTimeout without a pong */
		s->awaiting_pong = 1;
		s->hb_refreshed = 0;
		s->pong_deadline = t->expires + e->o.ping_timeout;
		sios__loop_timer_at(e->loop, &s->hb_t, s->pong_deadline);
	}
	LEAVE(e);
}

int sios__handshake_json(sios__engine *e, session *s, int ws, sios__str *out)
{
	return sios__str_addf(out,
			      "0{\"sid\":\"%s\",\"upgrades\":%s,\"pingInterval\":%u,"
			      "\"pingTimeout\":%u,\"maxPayload\":%zu}",
			      s->sid,
			      (!ws && e->o.allow_upgrades &&
			       (e->o.transports & SIOS_TRANSPORT_WEBSOCKET))
				      ? "[\"websocket\"]"
				      : "[]",
			      e->o.ping_interval, e->o.ping_timeout, e->o.max_payload);
}

session *sios__session_new(sios__engine *e, struct sios_request *req)
{
	session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	do
		sios__id(s->sid);
	while (sios__map_get(&e->sessions, s->sid));
	if (sios__map_put(&e->sessions, s->sid, s)) {
		free(s);
		return NULL;
	}
	s->ep = req->ep;
	s->eng = e;
	s->transport = req->transport;
	s->query = req->query;
	s->headers = req->headers;
	memset(&req->query, 0, sizeof(req->query));
	memset(&req->headers, 0, sizeof(req->headers));
	memcpy(s->remote, req->remote, sizeof(s->remote));
	s->created = req->time;
	sios__timer_init(&s->hb_t, heartbeat_cb);
	sios__timer_init(&s->upgrade_t, sios__upgrade_cb);
	sios__timer_init(&s->linger_t, linger_cb);
	e->nsessions++;
	e->stats.sessions_opened++;
	sios__loop_timer_add(e->loop, &s->hb_t, e->o.ping_interval);
	return s;
}

void sios__session_opened(session *s)
{
	if (s->ep->on_open)
		s->ep->on_open(s, s->ep->open_ud);
}

/* The pong deadline has passed but the wheel has not run the timer yet:
 * the session is dead already, and closes now, before anything it sent is
 * served. Returns 1 when it was closed. */
int sios__pong_overdue(session *s)
{
	if (!s->awaiting_pong || s->state != SIOS__S_OPEN || sios__now_ms() < s->pong_deadline)
		return 0;
	sios__log(SIOS__LOG_DEBUG, "session %s: ping timeout", s->sid);
	sios__session_close(s, SIOS_REASON_PING_TIMEOUT);
	return 1;
}

void sios__session_on_packet(session *s, const sios__eio_pkt *pkt)
{
	sios__engine *e = s->eng;

	if (s->state != SIOS__S_OPEN)
		return;
	e->stats.packets_in++;
	if (s->awaiting_pong && pkt->type != SIOS__EIO_PONG && !s->hb_refreshed) {
		/* as Node does: a client busy sending (a pong stuck behind a large
		 * upload) gets pingTimeout more once per ping */
		s->hb_refreshed = 1;
		s->pong_deadline = sios__now_ms() + e->o.ping_timeout;
		sios__loop_timer_at(e->loop, &s->hb_t, s->pong_deadline);
	}
	switch (pkt->type) {
	case SIOS__EIO_MESSAGE:
		if (s->ep->on_message)
			s->ep->on_message(s, pkt->data, pkt->len, pkt->binary, s->ep->message_ud);
		break;
	case SIOS__EIO_PONG:
		/* the next ping is due a whole interval after any pong (Node
		 * restarts its interval timer on an unsolicited one too) */
		s->awaiting_pong = 0;
		sios__loop_timer_add(e->loop, &s->hb_t, e->o.ping_interval);
		break;
	case SIOS__EIO_CLOSE:
		s->close_pkt = '6';
		sios__session_close(s, SIOS_REASON_TRANSPORT_CLOSE);
		break;
	case SIOS__EIO_NOOP:
		break;
	case SIOS__EIO_PING:
		/* in Engine.IO v4 only the server pings */
		sios__session_protocol_error(s, "invalid heartbeat direction");
		break;
	default:
		sios__session_protocol_error(s, "unexpected packet type");
		break;
	}
}

int sios__payload_pkt_cb(const sios__eio_pkt *pkt, void *ud)
{
	session *s = ud;

	sios__session_on_packet(s, pkt);
	return s->state == SIOS__S_OPEN ? 0 : 1;
}

int sios__sessions_full(sios__engine *e)
{
	return e->stopping || (e->o.max_sessions && e->nsessions >= e->o.max_sessions);
}

struct sios_eio_conn *sios__session_fake(sios__engine *e, sios_eio *ep)
{
	struct sios_request req;
	session *s;
	sios__str out;

	memset(&req, 0, sizeof(req));
	req.e = e;
	req.ep = ep;
	req.transport = SIOS_TRANSPORT_WEBSOCKET;
	req.time = sios__wall_ms();
	strcpy(req.remote, "127.0.0.1");
	ENTER(e);
	s = sios__session_new(e, &req);
	if (s) {
		sios__str_init(&out);
		sios__handshake_json(e, s, 1, &out);
		if (!out.oom)
			sios__session_push_copy(s, out.p, out.len, 0);
		sios__str_free(&out);
		sios__session_opened(s);
	}
	LEAVE(e);
	return s;
}

void sios__session_feed(struct sios_eio_conn *s, const void *data, size_t len, int binary)
{
	sios__engine *e = s->eng;
	sios__eio_pkt pkt;

	if (s->state != SIOS__S_OPEN)
		return;
	ENTER(e);
	if (binary ? 0 : !sios__utf8_valid(data, len))
		sios__session_protocol_error(s, "invalid UTF-8"); /* lws's check, for real sockets */
	else if (sios__eio_decode(data, len, binary, &pkt) || pkt.type == SIOS__EIO_OPEN ||
		 pkt.type == SIOS__EIO_UPGRADE)
		sios__session_protocol_error(s, "malformed Engine.IO packet");
	else
		sios__session_on_packet(s, &pkt);
	LEAVE(e);
}

size_t sios__session_fake_take(struct sios_eio_conn *s,
			       void (*fn)(const void *data, size_t len, int binary, void *ud), void *ud)
{
	sios__outpkt *p;
	size_t n = 0;

	while ((p = sios__queue_peek(&s->q))) {
		fn(p->buf->data, p->buf->len, p->binary, ud);
		sios__queue_pop(&s->q);
		n++;
	}
	return n;
}
