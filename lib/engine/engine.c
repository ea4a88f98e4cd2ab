/* Engine.IO v4 server: sessions and the polling and websocket transports. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "engine.h"


typedef struct sios_eio_conn session;

/* per-wsi state; lws keeps it across keep-alive requests */
/* K_HELD: a polling handshake whose filter decision is deferred;
 * K_WS_HELD: the same for a websocket, already upgraded, not yet open */
enum { K_NONE = 0, K_GET, K_POST, K_WS, K_PROBE, K_DISCARD, K_HELD, K_WS_HELD };

struct pss {
	int kind;
	session *s;
	sios_eio *ep;
	char *origin;     /* for CORS on a deferred reply */
	sios__str body;   /* POST body, or the websocket message being reassembled */
	size_t discarded; /* bytes of an oversized POST thrown away */
	int rx_binary, rx_too_big;
	sios__str reply; /* a final polling reply to write when writable */
	int has_reply;
	int reply_status; /* of that reply: 0 is a 200 payload, else a JSON error */
	struct sios_request *req; /* K_HELD, K_WS_HELD */
	char *kill_msg;           /* owned text behind kill_why, when not static */
	int kill;        /* websocket: close at the next writable */
	int kill_status; /* its close code; LWS_CLOSE_STATUS_NOSTATUS: an empty frame */
	const char *kill_why; /* static text for the close frame, or NULL */
	/* the request asked for the connection to close after the reply
	 * (HTTP/1.0 without keep-alive, or Connection: close); recorded when
	 * it arrives, since a held poll's headers are gone by the reply */
	int conn_close;
	uint64_t started; /* when the request arrived (its body's deadline) */
};

size_t sios__engine_pss_size(void) { return sizeof(struct pss); }

static sios__engine *eng_of(struct lws *wsi)
{
	return lws_context_user(lws_get_context(wsi));
}

/* ---- reentrancy: sessions are freed only at the outermost frame ------- */

static void reap(sios__engine *e)
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

static void flush_dirty(sios__engine *e);

#define ENTER(e) ((e)->depth++)
#define LEAVE(e)                                                                           \
	do {                                                                               \
		if (--(e)->depth == 0)                                                     \
			reap(e);                                                           \
	} while (0)

static void dirty_unlink(session *s)
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

/* ---- outbound queue -------------------------------------------------- */

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

static sios__outpkt *q_peek(sios__outq *q) { return q->len ? &q->v[q->head] : NULL; }

static void q_pop(sios__outq *q)
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
		q_pop(q);
	return n;
}

static void q_free(sios__outq *q)
{
	while (q->len)
		q_pop(q);
	free(q->v);
	memset(q, 0, sizeof(*q));
}

/* all queued packets as one polling payload */
static int q_drain_payload(sios__engine *e, sios__outq *q, sios__str *out)
{
	sios__outpkt *p;

	while ((p = q_peek(q))) {
		if (sios__eio_payload_append(out, p->buf->data, p->buf->len, p->binary))
			return -1;
		e->stats.packets_out++;
		q_pop(q);
	}
	return 0;
}

/* ---- key/value snapshots (query, headers) ----------------------------- */

static int kv_build(sios__kv *kv, sios__str *mem, size_t n)
{
	/* mem holds n pairs as "k\0v\0"; one exact-size block keeps the key and
	 * value pointers followed by the strings, for the session's lifetime */
	size_t ptrs = 2 * n * sizeof(char *);
	char *block = malloc(ptrs + mem->len + 1), *p;

	if (!block) {
		sios__str_free(mem);
		return -1;
	}
	p = block + ptrs;
	if (mem->len)
		memcpy(p, mem->p, mem->len);
	sios__str_free(mem);
	kv->mem = block;
	kv->k = (const char **)(void *)block;
	kv->v = kv->k + n;
	kv->n = n;
	for (size_t i = 0; i < n; i++) {
		kv->k[i] = p;
		p += strlen(p) + 1;
		kv->v[i] = p;
		p += strlen(p) + 1;
	}
	return 0;
}

static const char *kv_get(const sios__kv *kv, const char *key, int nocase)
{
	for (size_t i = 0; i < kv->n; i++)
		if (nocase ? sios__strcaseeq(kv->k[i], key) : !strcmp(kv->k[i], key))
			return kv->v[i];
	return NULL;
}

/* URL arguments, as lws hands them over: one decoded "k=v" per fragment.
 * A key given twice keeps its last value, as Node does (URLSearchParams
 * into an object), so a handshake never carries a key twice. */
static int parse_query(struct lws *wsi, sios__kv *kv)
{
	int total = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_URI_ARGS);
	sios__str all, mem;
	size_t n = 0, nfrag = 0;
	char *frag;

	memset(kv, 0, sizeof(*kv));
	sios__str_init(&mem);
	if (total <= 0)
		return kv_build(kv, &mem, 0);
	frag = malloc((size_t)total + 1);
	if (!frag)
		return -1;
	/* every fragment as "k\0v\0", in order */
	sios__str_init(&all);
	for (int i = 0;; i++) {
		int l = lws_hdr_copy_fragment(wsi, frag, total + 1, WSI_TOKEN_HTTP_URI_ARGS, i);
		char *eq;

		if (l < 0)
			break;
		eq = memchr(frag, '=', (size_t)l);
		sios__str_add(&all, frag, eq ? (size_t)(eq - frag) : (size_t)l);
		sios__str_addc(&all, 0);
		if (eq)
			sios__str_add(&all, eq + 1, (size_t)(l - (eq + 1 - frag)));
		sios__str_addc(&all, 0);
		nfrag++;
	}
	free(frag);
	for (size_t i = 0, off = 0; i < nfrag && !all.oom; i++) {
		const char *k = all.p + off, *v = k + strlen(k) + 1, *later = v + strlen(v) + 1;
		int dup = 0;

		off = (size_t)(later - all.p);
		for (size_t j = i + 1; j < nfrag && !dup; j++) {
			dup = !strcmp(k, later);
			later += strlen(later) + 1;
			later += strlen(later) + 1;
		}
		if (dup)
			continue;
		sios__str_add(&mem, k, strlen(k) + 1);
		sios__str_adds(&mem, v);
		sios__str_addc(&mem, 0);
		n++;
	}
	if (all.oom || mem.oom) {
		sios__str_free(&all);
		sios__str_free(&mem);
		return -1;
	}
	sios__str_free(&all);
	return kv_build(kv, &mem, n);
}

static void kv_free(sios__kv *kv)
{
	free(kv->mem); /* the pointers are in the same block */
	memset(kv, 0, sizeof(*kv));
}

/* a copy of a header lws knows by token, or NULL */
static char *hdr_token(struct lws *wsi, enum lws_token_indexes t)
{
	int l = lws_hdr_total_length(wsi, t);
	char *v;

	if (l <= 0 || !(v = malloc((size_t)l + 1)))
		return NULL;
	if (lws_hdr_copy(wsi, v, l + 1, t) < 0) {
		free(v);
		return NULL;
	}
	return v;
}

/* the value of a request header by name, from the live request */
static char *hdr_get(struct lws *wsi, const char *name)
{
	size_t nl = strlen(name);
	char key[128];
	int l;

	if (nl + 2 > sizeof(key))
		return NULL;
	for (size_t i = 0; i < nl; i++)
		key[i] = (char)tolower((unsigned char)name[i]);
	key[nl] = ':';
	key[nl + 1] = 0;
	for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
		const unsigned char *ts = lws_token_to_string((enum lws_token_indexes)t);

		if (ts && !strcmp((const char *)ts, key))
			return hdr_token(wsi, (enum lws_token_indexes)t);
	}
	l = lws_hdr_custom_length(wsi, key, (int)nl + 1);
	if (l >= 0) {
		char *v = malloc((size_t)l + 1);

		if (v && lws_hdr_custom_copy(wsi, v, l + 1, key, (int)nl + 1) < 0) {
			free(v);
			return NULL;
		}
		return v;
	}
	return NULL;
}

/* every standard header of the request, for the session's lifetime */
static int snapshot_headers(sios__engine *e, struct lws *wsi, sios__kv *kv)
{
	sios__str mem;
	size_t n = 0;
	char *v = NULL;
	int vcap = 0;

	sios__str_init(&mem);
	for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
		const char *ts = (const char *)lws_token_to_string((enum lws_token_indexes)t);
		size_t tl;
		int l;

		if (!ts || !(tl = strlen(ts)) || ts[tl - 1] != ':' || ts[0] == ':')
			continue;
		l = lws_hdr_total_length(wsi, (enum lws_token_indexes)t);
		if (l <= 0)
			continue;
		if (l + 1 > vcap) {
			char *nv = realloc(v, (size_t)l + 1);

			if (!nv)
				break;
			v = nv;
			vcap = l + 1;
		}
		if (lws_hdr_copy(wsi, v, vcap, (enum lws_token_indexes)t) < 0)
			continue;
		sios__str_add(&mem, ts, tl - 1);
		sios__str_addc(&mem, 0);
		sios__str_adds(&mem, v);
		sios__str_addc(&mem, 0);
		n++;
	}
	free(v);
	for (size_t i = 0; i < e->o.n_keep; i++) {
		char *cv = hdr_get(wsi, e->o.keep_headers[i]);

		if (!cv)
			continue;
		sios__str_adds(&mem, e->o.keep_headers[i]);
		sios__str_addc(&mem, 0);
		sios__str_adds(&mem, cv);
		sios__str_addc(&mem, 0);
		free(cv);
		n++;
	}
	if (mem.oom) {
		sios__str_free(&mem);
		return -1;
	}
	return kv_build(kv, &mem, n);
}

/* the peer's address; IPv4-mapped IPv6 addresses are given as plain IPv4 */
static void peer_addr(struct lws *wsi, char *buf, size_t len)
{
	buf[0] = 0;
	lws_get_peer_simple(wsi, buf, len);
	if (!strncmp(buf, "::ffff:", 7) && strchr(buf + 7, '.'))
		memmove(buf, buf + 7, strlen(buf + 7) + 1);
}

/* ---- HTTP replies ---------------------------------------------------- */

static const char *cors_allowed(sios__engine *e, const char *origin)
{
	if (!e->o.n_cors)
		return NULL;
	for (size_t i = 0; i < e->o.n_cors; i++) {
		/* "*" is sent whether or not the request named an origin, as the
		 * cors middleware in front of Node's server does */
		if (!strcmp(e->o.cors_origins[i], "*"))
			return e->o.cors_credentials ? origin : "*";
		if (!origin)
			continue;
		if (!strcmp(e->o.cors_origins[i], origin))
			return origin;
	}
	return NULL;
}

#define HDR_ROOM 2048

static int add_hdr(struct lws *wsi, const char *name, const char *val, unsigned char **p,
		   unsigned char *end)
{
	return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
					   (const unsigned char *)val, (int)strlen(val), p, end);
}

/* close_after: what happens once the response is written, plus NO_STORE
 * for polling payloads (Cache-Control: no-store, as Node sends) */
enum { KEEP_ALIVE = 0, HANG_UP = 1, LEAVE_OPEN = 2, NO_STORE = 4 };

/* Whether lws will close the connection after this request, by the rule
 * lws applies (lib/roles/http/server/server.c): HTTP/1.1 keeps it unless
 * Connection says close, HTTP/1.0 closes it unless it says keep-alive. */
static int request_wants_close(struct lws *wsi)
{
	char v[32] = "";
	int l = lws_hdr_total_length(wsi, WSI_TOKEN_HTTP), close = 1;

	if (l > 7 && l < (int)sizeof(v) && lws_hdr_copy(wsi, v, sizeof(v), WSI_TOKEN_HTTP) > 0)
		close = strcmp(v, "HTTP/1.1") != 0;
	l = lws_hdr_total_length(wsi, WSI_TOKEN_CONNECTION);
	if (l > 0 && l < (int)sizeof(v) && lws_hdr_copy(wsi, v, sizeof(v), WSI_TOKEN_CONNECTION) > 0) {
		if (!strcasecmp(v, "keep-alive"))
			close = 0;
		else if (!strcasecmp(v, "close"))
			close = 1;
	}
	return close;
}

/* whether the connection closes after the reply to the current request */
static int conn_closes(struct lws *wsi)
{
	struct pss *ps = lws_wsi_user(wsi);

	/* during CONFIRM_UPGRADE lws has no per-connection data yet */
	return ps ? ps->conn_close : request_wants_close(wsi);
}

/* Writes a whole response, with extra headers given as name, value pairs
 * (NULL-terminated); returns what the lws callback should return. */
static int http_reply_ex(struct lws *wsi, const char *origin, unsigned status, const char *ctype,
			 const void *body, size_t blen, int close_after,
			 const char *const *extra)
{
	sios__engine *e = eng_of(wsi);
	/* room for the fixed headers, an echoed origin and the extra ones */
	size_t room = HDR_ROOM + (origin ? strlen(origin) : 0), cap;
	unsigned char *buf, *start, *p, *end;
	const char *allow = cors_allowed(e, origin);
	char clen[32];
	int r, no_store = close_after & NO_STORE;

	for (const char *const *x = extra; x && x[0] && x[1]; x += 2)
		room += strlen(x[0]) + strlen(x[1]) + 4;
	cap = LWS_PRE + room + blen;
	close_after &= ~NO_STORE;
	if (!(buf = malloc(cap)))
		return -1;
	start = p = buf + LWS_PRE;
	end = buf + LWS_PRE + room - 1;
	snprintf(clen, sizeof(clen), "%zu", blen);
	if (lws_add_http_header_status(wsi, status, &p, end))
		goto fail;
	if (ctype && lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_TYPE,
						  (const unsigned char *)ctype, (int)strlen(ctype),
						  &p, end))
		goto fail;
	if (lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH,
					 (const unsigned char *)clen, (int)strlen(clen), &p, end))
		goto fail;
	if (no_store && add_hdr(wsi, "cache-control:", "no-store", &p, end))
		goto fail;
	for (; extra && extra[0] && extra[1]; extra += 2) {
		char name[64];
		size_t nl = strlen(extra[0]);

		if (nl + 2 > sizeof(name))
			goto fail;
		for (size_t i = 0; i < nl; i++)
			name[i] = (char)tolower((unsigned char)extra[0][i]);
		name[nl] = ':';
		name[nl + 1] = 0;
		if (add_hdr(wsi, name, extra[1], &p, end))
			goto fail;
	}
	if (allow) {
		if (add_hdr(wsi, "access-control-allow-origin:", allow, &p, end) ||
		    add_hdr(wsi, "vary:", "Origin", &p, end))
			goto fail;
		if (e->o.cors_credentials &&
		    add_hdr(wsi, "access-control-allow-credentials:", "true", &p, end))
			goto fail;
	}
	/* A reply after which the connection closes says so, or a keep-alive
	 * client (Node's agent) reuses the closed socket: "socket hang up". */
	if (close_after != KEEP_ALIVE || conn_closes(wsi)) {
		if (add_hdr(wsi, "connection:", "close", &p, end))
			goto fail;
	} else if (add_hdr(wsi, "connection:", "keep-alive", &p, end)) {
		goto fail;
	}
	if (lws_finalize_http_header(wsi, &p, end))
		goto fail;
	if (blen)
		memcpy(p, body, blen);
	p += blen;
	r = lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_FINAL);
	free(buf);
	e->stats.bytes_out += blen;
	if (r < 0 || close_after == HANG_UP)
		return -1;
	if (close_after == LEAVE_OPEN)
		return 0;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
fail:
	free(buf);
	return -1;
}

static int http_reply(struct lws *wsi, const char *origin, unsigned status, const char *ctype,
		      const void *body, size_t blen, int close_after)
{
	return http_reply_ex(wsi, origin, status, ctype, body, blen, close_after, NULL);
}

static const char *eio_errmsg[] = {"Transport unknown", "Session ID unknown",
				   "Bad handshake method", "Bad request", "Forbidden",
				   "Unsupported protocol version"};

/* {"code":N,"message":"..."} */
static void error_body(sios__str *b, int code, const char *msg)
{
	if (!msg)
		msg = eio_errmsg[code];
	sios__str_addf(b, "{\"code\":%d,\"message\":\"", code);
	for (const char *c = msg; *c; c++) {
		if (*c == '"' || *c == '\\')
			sios__str_addc(b, '\\');
		if ((unsigned char)*c < 0x20)
			sios__str_addf(b, "\\u%04x", (unsigned char)*c);
		else
			sios__str_addc(b, *c);
	}
	sios__str_adds(b, "\"}");
}

/* 400 (or 403 for code 4) with the Engine.IO JSON error body */
static int http_error(struct lws *wsi, const char *origin, int code, const char *msg,
		      unsigned status, int close_after)
{
	sios__str b;
	int r;

	sios__str_init(&b);
	error_body(&b, code, msg);
	if (b.oom) {
		sios__str_free(&b);
		return -1;
	}
	r = http_reply(wsi, origin, status ? status : (code == 4 ? 403 : 400),
		       "application/json", b.p, b.len, close_after);
	sios__str_free(&b);
	return r;
}

static int http_payload(struct lws *wsi, const char *origin, const char *p, size_t n)
{
	return http_reply(wsi, origin, 200, "text/plain; charset=UTF-8", p, n, NO_STORE);
}

/* ---- sessions -------------------------------------------------------- */

/* Close a websocket at its next writable callback, with a close frame:
 * status and a static reason, or an empty frame for
 * LWS_CLOSE_STATUS_NOSTATUS (what Node sends when it closes a session). */
static void ws_kill(struct lws *wsi, int status, const char *why)
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

/* the reply a pending GET gets when its session ends */
static void get_final_reply(sios__engine *e, session *s, char last)
{
	struct lws *wsi = s->get_wsi;
	struct pss *ps = lws_wsi_user(wsi);

	s->get_wsi = NULL;
	if (!ps)
		return;
	sios__str_free(&ps->reply);
	q_drain_payload(e, &s->q, &ps->reply);
	if (last) {
		unsigned char c = (unsigned char)last;

		sios__eio_payload_append(&ps->reply, &c, 1, 0);
	}
	ps->has_reply = 1;
	ps->s = NULL;
	lws_callback_on_writable(wsi);
}

/* Forget the session: out of the table, transports detached, memory to the grave. */
static void finalize(session *s)
{
	sios__engine *e = s->eng;

	if (s->state == SIOS__S_DEAD)
		return;
	s->state = SIOS__S_DEAD;
	dirty_unlink(s);
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
		ws_kill(s->ws_wsi, s->close_code, s->close_why);
		s->ws_wsi = NULL;
	}
	if (s->probe_wsi) {
		ws_kill(s->probe_wsi, LWS_CLOSE_STATUS_NOSTATUS, NULL);
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
	finalize(s);
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
		ws_kill(s->probe_wsi, LWS_CLOSE_STATUS_NOSTATUS, NULL);
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
			finalize(s);
		}
	} else {
		if (!s->close_pkt)
			s->close_pkt = '1';
		finalize(s);
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
static void session_protocol_error(session *s, const char *why)
{
	sios__log_limited(SIOS__LOG_WARN, "session %s: %s, closing", s->sid, why);
	sios__session_end(s, SIOS_REASON_PARSE_ERROR, 0, LWS_CLOSE_STATUS_PROTOCOL_ERR, why);
}

static void get_answer_noop(session *s);

/* During an upgrade: every 100 ms after "3probe" a pending poll is answered
 * with a noop, so the client can pause polling and send "5" (Node's
 * engine.io does the same, and socket.io-client's tests rely on that
 * timing); at the upgrade deadline the probe is given up. */
#define UPGRADE_CHECK_MS 100

static void upgrade_cb(sios__timer *t)
{
	session *s = sios__container_of(t, session, upgrade_t);
	sios__engine *e = s->eng;
	uint64_t now = sios__now_ms();

	if (s->upgrade == SIOS__U_PROBED && now < s->upgrade_deadline) {
		if (s->get_wsi && !s->q.len)
			get_answer_noop(s);
		sios__loop_timer_at(e->loop, &s->upgrade_t,
				    now + UPGRADE_CHECK_MS < s->upgrade_deadline
					    ? now + UPGRADE_CHECK_MS
					    : s->upgrade_deadline);
		return;
	}
	ENTER(e);
	if (s->probe_wsi) {
		sios__log(SIOS__LOG_INFO, "session %s: upgrade timed out", s->sid);
		ws_kill(s->probe_wsi, LWS_CLOSE_STATUS_NOSTATUS, NULL);
		s->probe_wsi = NULL;
	}
	s->upgrade = SIOS__U_NONE;
	LEAVE(e);
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
static void check_drain(session *s)
{
	if (s->over_low && s->q.bytes <= s->eng->o.low_water && s->state == SIOS__S_OPEN) {
		s->over_low = 0;
		if (s->ep->on_drain)
			s->ep->on_drain(s, s->ep->drain_ud);
	}
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


static int push_copy(session *s, const char *type_and_data, size_t n, int binary)
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
	} else if (push_copy(s, "2", 1, 0) == 0) {
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

static int handshake_json(sios__engine *e, session *s, int ws, sios__str *out)
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

/* What a handshake request carries into its session, gathered while the
 * request is at hand (its headers are gone by the time a deferred decision
 * comes). */
struct sios_request {
	sios__engine *e;
	sios_eio *ep;
	struct lws *wsi;  /* NULL once the client has gone */
	struct pss *ps;   /* a held request's (K_HELD, K_WS_HELD) */
	sios__kv query;   /* owned until a session takes it */
	sios__kv headers; /* the same */
	char remote[48];
	uint64_t time;    /* wall clock, ms */
	unsigned transport;
	int state;        /* REQ_* */
	int in_callback;  /* the filter is running: the live request can be read */
	char *message;    /* a rejection's */
	char *hdr;        /* the last live header value handed out */
	cJSON *handshake;
	struct sios_request *next; /* the engine's deferred requests */
};

enum { REQ_OPEN = 0, REQ_DEFERRED, REQ_ACCEPTED, REQ_REJECTED };

static session *session_new(sios__engine *e, struct sios_request *req)
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
	sios__timer_init(&s->upgrade_t, upgrade_cb);
	sios__timer_init(&s->linger_t, linger_cb);
	e->nsessions++;
	e->stats.sessions_opened++;
	sios__loop_timer_add(e->loop, &s->hb_t, e->o.ping_interval);
	return s;
}

static void session_opened(session *s)
{
	if (s->ep->on_open)
		s->ep->on_open(s, s->ep->open_ud);
}

/* The pong deadline has passed but the wheel has not run the timer yet:
 * the session is dead already, and closes now, before anything it sent is
 * served. Returns 1 when it was closed. */
static int pong_overdue(session *s)
{
	if (!s->awaiting_pong || s->state != SIOS__S_OPEN || sios__now_ms() < s->pong_deadline)
		return 0;
	sios__log(SIOS__LOG_DEBUG, "session %s: ping timeout", s->sid);
	sios__session_close(s, SIOS_REASON_PING_TIMEOUT);
	return 1;
}

/* ---- incoming packets ------------------------------------------------ */

static void on_packet(session *s, const sios__eio_pkt *pkt)
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
		session_protocol_error(s, "invalid heartbeat direction");
		break;
	default:
		session_protocol_error(s, "unexpected packet type");
		break;
	}
}

static int payload_pkt_cb(const sios__eio_pkt *pkt, void *ud)
{
	session *s = ud;

	on_packet(s, pkt);
	return s->state == SIOS__S_OPEN ? 0 : 1;
}

/* ---- handshake requests and the application's filter ----------------- */

static struct sios_request *req_new(sios__engine *e, sios_eio *ep, struct lws *wsi,
				    sios__kv *query, unsigned transport)
{
	struct sios_request *req = calloc(1, sizeof(*req));

	if (!req)
		return NULL;
	if (snapshot_headers(e, wsi, &req->headers)) {
		free(req);
		return NULL;
	}
	req->e = e;
	req->ep = ep;
	req->wsi = wsi;
	req->query = *query;
	memset(query, 0, sizeof(*query));
	peer_addr(wsi, req->remote, sizeof(req->remote));
	req->time = sios__wall_ms();
	req->transport = transport;
	return req;
}

static void req_unlink(struct sios_request *req)
{
	sios__engine *e = req->e;

	for (struct sios_request **pp = &e->held; *pp; pp = &(*pp)->next)
		if (*pp == req) {
			*pp = req->next;
			e->nheld--;
			break;
		}
}

static void req_free(struct sios_request *req)
{
	if (!req)
		return;
	kv_free(&req->query);
	kv_free(&req->headers);
	free(req->message);
	free(req->hdr);
	cJSON_Delete(req->handshake);
	free(req);
}

SIOS_EXPORT const char *sios_request_header(sios_request *req, const char *name)
{
	if (!req || !name)
		return NULL;
	if (!req->in_callback) /* deferred: the headers kept at the handshake */
		return kv_get(&req->headers, name, 1);
	free(req->hdr);
	req->hdr = hdr_get(req->wsi, name);
	return req->hdr;
}

SIOS_EXPORT const char *sios_request_query(sios_request *req, const char *key)
{
	return req && key ? kv_get(&req->query, key, 0) : NULL;
}

SIOS_EXPORT const char *sios_request_remote_addr(sios_request *req)
{
	return req ? req->remote : NULL;
}

/* Node's handshake object: headers, time, address, xdomain, secure,
 * issued, url, query (auth is added for a socket). */
static cJSON *handshake_object(sios__engine *e, sios_eio *ep, const sios__kv *headers,
			       const sios__kv *query, const char *remote, uint64_t when)
{
	cJSON *o = cJSON_CreateObject(), *h = cJSON_CreateObject(), *q = cJSON_CreateObject();
	char tbuf[96];
	sios__str url;

	if (!o || !h || !q) {
		cJSON_Delete(o);
		cJSON_Delete(h);
		cJSON_Delete(q);
		return NULL;
	}
	for (size_t i = 0; i < headers->n; i++) {
		char name[128];
		size_t nl = strlen(headers->k[i]);

		if (nl >= sizeof(name))
			continue;
		for (size_t k = 0; k <= nl; k++)
			name[k] = (char)tolower((unsigned char)headers->k[i][k]);
		cJSON_AddStringToObject(h, name, headers->v[i]);
	}
	sios__str_init(&url);
	sios__str_adds(&url, ep->path);
	for (size_t i = 0; i < query->n; i++) {
		sios__str_addc(&url, i ? '&' : '?');
		sios__url_encode(&url, query->k[i]);
		sios__str_addc(&url, '=');
		sios__url_encode(&url, query->v[i]);
		cJSON_AddStringToObject(q, query->k[i], query->v[i]);
	}
	sios__js_date(when, tbuf, sizeof(tbuf));
	cJSON_AddItemToObject(o, "headers", h);
	cJSON_AddStringToObject(o, "time", tbuf);
	cJSON_AddStringToObject(o, "address", remote);
	cJSON_AddBoolToObject(o, "xdomain", kv_get(headers, "origin", 1) != NULL);
	cJSON_AddBoolToObject(o, "secure", e->loop->tls);
	cJSON_AddNumberToObject(o, "issued", (double)when);
	cJSON_AddStringToObject(o, "url", url.oom ? "" : url.p ? url.p : "");
	cJSON_AddItemToObject(o, "query", q);
	sios__str_free(&url);
	return o;
}

SIOS_EXPORT const cJSON *sios_request_handshake(sios_request *req)
{
	if (!req)
		return NULL;
	if (!req->handshake)
		req->handshake = handshake_object(req->e, req->ep, &req->headers, &req->query,
						  req->remote, req->time);
	return req->handshake;
}

SIOS_EXPORT int sios_request_reject(sios_request *req, const char *message)
{
	if (!req)
		return SIOS_EINVAL;
	if (req->state == REQ_DEFERRED && !req->in_callback)
		return sios__request_decide(req, REQ_REJECTED, message);
	if (req->state != REQ_OPEN && req->state != REQ_DEFERRED)
		return SIOS_EMISUSE;
	req->state = REQ_REJECTED;
	free(req->message);
	req->message = message ? sios__strdup(message) : NULL;
	return 0;
}

SIOS_EXPORT int sios_request_defer(sios_request *req)
{
	if (!req)
		return SIOS_EINVAL;
	if (!req->in_callback || req->state != REQ_OPEN)
		return SIOS_EMISUSE;
	req->state = REQ_DEFERRED;
	return 0;
}

SIOS_EXPORT int sios_request_accept(sios_request *req)
{
	if (!req)
		return SIOS_EINVAL;
	if (req->state == REQ_DEFERRED && !req->in_callback)
		return sios__request_decide(req, REQ_ACCEPTED, NULL);
	if (req->state != REQ_DEFERRED && req->state != REQ_OPEN)
		return SIOS_EMISUSE;
	req->state = REQ_ACCEPTED; /* inside the callback: the same as returning */
	return 0;
}

/* Runs the application's filter on a new handshake. Returns the request's
 * state: REQ_ACCEPTED (also without a filter), REQ_REJECTED or
 * REQ_DEFERRED (the caller holds the request; it is on e->held). */
static int run_allow_request(sios__engine *e, struct sios_request *req)
{
	if (!e->o.allow_request)
		return REQ_ACCEPTED;
	req->in_callback = 1;
	e->o.allow_request(req, e->o.allow_request_ud);
	req->in_callback = 0;
	free(req->hdr);
	req->hdr = NULL;
	if (req->state == REQ_DEFERRED) {
		req->next = e->held;
		e->held = req;
		e->nheld++;
		return REQ_DEFERRED;
	}
	return req->state == REQ_REJECTED ? REQ_REJECTED : REQ_ACCEPTED;
}

static sios_eio *find_ep(sios__engine *e, const char *uri, size_t ulen)
{
	for (sios_eio *ep = e->eps; ep; ep = ep->next) {
		if (ulen == ep->path_len && !memcmp(uri, ep->path, ulen))
			return ep;
		if (ulen + 1 == ep->path_len && !memcmp(uri, ep->path, ulen))
			return ep;
	}
	return NULL;
}

/* Checks common to every Engine.IO request. Returns 0 or an error code,
 * with the session (if sid= was given) in *sp. */
static int verify(sios__engine *e, sios__kv *q, unsigned want_transport, session **sp,
		  int *status)
{
	const char *eio = kv_get(q, "EIO", 0), *tr = kv_get(q, "transport", 0);
	const char *sid = kv_get(q, "sid", 0);
	unsigned t;

	if (sid && !*sid)
		sid = NULL; /* "sid=" is a handshake, as in Node */
	*sp = NULL;
	*status = 400;
	if (!tr)
		return 0; /* "Transport unknown" */
	if (!strcmp(tr, "polling"))
		t = SIOS_TRANSPORT_POLLING;
	else if (!strcmp(tr, "websocket"))
		t = SIOS_TRANSPORT_WEBSOCKET;
	else
		return 0;
	if (!(e->o.transports & t) || t != want_transport)
		return 0;
	if (!eio || strcmp(eio, "4"))
		return 5;
	if (sid) {
		session *s = sios__map_get(&e->sessions, sid);

		if (!s || pong_overdue(s))
			return 1;
		*sp = s;
	}
	return -1; /* fine */
}

static int sessions_full(sios__engine *e)
{
	return e->stopping || (e->o.max_sessions && e->nsessions >= e->o.max_sessions);
}

static void error_body(sios__str *b, int code, const char *msg);

/* The reply to a decided polling handshake: a new session and its open
 * packet (*status 0), or the JSON error and its HTTP status. */
static session *polling_open(sios__engine *e, struct sios_request *req, sios__str *out,
			     int *status)
{
	session *s = NULL;

	if (req->state == REQ_REJECTED) {
		*status = 403;
		error_body(out, 4, req->message ? req->message : "Forbidden");
	} else if (sessions_full(e)) {
		e->stats.refused_connections++;
		*status = 503;
		error_body(out, 3, "Server is full");
	} else if (!(s = session_new(e, req))) {
		*status = 500;
		error_body(out, 3, "Out of memory");
	} else {
		*status = 0;
		handshake_json(e, s, 0, out);
	}
	return s;
}

static void pss_reset(struct pss *ps)
{
	free(ps->origin);
	free(ps->kill_msg);
	sios__str_free(&ps->body);
	sios__str_free(&ps->reply);
	memset(ps, 0, sizeof(*ps));
}

static int handle_get(sios__engine *e, struct lws *wsi, struct pss *ps, sios_eio *ep,
		      sios__kv *q, session *s)
{
	if (!s) {
		/* handshake */
		struct sios_request *req;
		int status, r;
		sios__str out;

		if (sessions_full(e)) {
			e->stats.refused_connections++;
			return http_error(wsi, ps->origin, 3, "Server is full", 503, KEEP_ALIVE);
		}
		req = req_new(e, ep, wsi, q, SIOS_TRANSPORT_POLLING);
		if (!req)
			return http_error(wsi, ps->origin, 3, "Out of memory", 500, HANG_UP);
		if (run_allow_request(e, req) == REQ_DEFERRED) {
			/* held until the application decides (sios__request_decide) */
			ps->kind = K_HELD;
			ps->req = req;
			req->ps = ps;
			lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
			lws_http_headers_detach(wsi);
			return 0;
		}
		sios__str_init(&out);
		s = polling_open(e, req, &out, &status);
		req_free(req);
		r = status ? http_reply(wsi, ps->origin, (unsigned)status, "application/json", out.p,
					out.len, KEEP_ALIVE)
			   : http_payload(wsi, ps->origin, out.p, out.len);
		sios__str_free(&out);
		if (s)
			session_opened(s);
		return r;
	}
	if (s->transport != SIOS_TRANSPORT_POLLING)
		return http_error(wsi, ps->origin, 3, NULL, 400, KEEP_ALIVE);
	if (s->get_wsi) {
		/* two GETs at once: the session is broken */
		int r = http_error(wsi, ps->origin, 3, NULL, 400, KEEP_ALIVE);

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
			q_drain_payload(e, &s->q, &out);
		r = out.oom ? -1 : http_payload(wsi, ps->origin, out.p, out.len);
		sios__str_free(&out);
		if (last)
			finalize(s);
		return r;
	}
	if (s->q.len) {
		sios__str out;
		int r;

		sios__str_init(&out);
		q_drain_payload(e, &s->q, &out);
		check_drain(s);
		r = out.oom ? -1 : http_payload(wsi, ps->origin, out.p, out.len);
		sios__str_free(&out);
		return r;
	}
	/* hold it until there is something to send */
	ps->kind = K_GET;
	ps->s = s;
	s->get_wsi = wsi;
	lws_set_timeout(wsi, NO_PENDING_TIMEOUT, 0);
	lws_http_headers_detach(wsi);
	return 0;
}

/* Refuse a POST: answer now, then read and drop its body before hanging up,
 * so the client is not reset before it has read the answer. */
static int post_refuse(struct lws *wsi, struct pss *ps, int code, const char *msg,
		       unsigned status, int has_body)
{
	ps->kind = K_DISCARD;
	ps->s = NULL;
	return http_error(wsi, ps->origin, code, msg, status, has_body ? LEAVE_OPEN : HANG_UP);
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
		r = http_reply(wsi, ps->origin, 400, NULL, NULL, 0, LEAVE_OPEN);
		session_protocol_error(s, "binary POST body (application/octet-stream)");
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

static int handle_post_done(sios__engine *e, struct lws *wsi, struct pss *ps)
{
	session *s = ps->s;
	int r;

	if (ps->kind != K_POST)
		return -1; /* a refused POST, fully read: hang up now */
	ps->kind = K_NONE;
	ps->s = NULL;
	if (!s)
		return http_error(wsi, ps->origin, 1, NULL, 400, KEEP_ALIVE);
	s->post_wsi = NULL;
	e->stats.bytes_in += ps->body.len;
	if (!sios__utf8_valid(ps->body.p, ps->body.len)) {
		/* a payload is text (binary travels as b+base64): what is not
		 * UTF-8 must not reach other clients */
		sios__str_free(&ps->body);
		session_protocol_error(s, "invalid UTF-8 in a polling payload");
		return http_error(wsi, ps->origin, 3, NULL, 400, KEEP_ALIVE);
	}
	r = sios__eio_payload_decode(ps->body.p ? ps->body.p : "", ps->body.len, payload_pkt_cb, s);
	if (ps->body.len >= 65536)
		sios__trim_note(ps->body.len);
	sios__str_free(&ps->body);
	if (r < 0) {
		session_protocol_error(s, "malformed polling payload");
		return http_error(wsi, ps->origin, 3, NULL, 400, KEEP_ALIVE);
	}
	if (s->state != SIOS__S_OPEN && s->reason == SIOS_REASON_PARSE_ERROR)
		/* a packet of this POST broke the protocol (at the Socket.IO
		 * layer too): the client learns it here, not from a later GET */
		return http_error(wsi, ps->origin, 3, NULL, 400, KEEP_ALIVE);
	return http_reply(wsi, ps->origin, 200, "text/html", "ok", 2, NO_STORE);
}

static int handle_options(sios__engine *e, struct lws *wsi, struct pss *ps)
{
	const char *allow = cors_allowed(e, ps->origin);
	char *req_hdrs = hdr_token(wsi, WSI_TOKEN_HTTP_AC_REQUEST_HEADERS);
	/* the requested headers are echoed back: room for all of them */
	size_t cap = LWS_PRE + HDR_ROOM + (req_hdrs ? strlen(req_hdrs) : 0) +
		     (allow ? strlen(allow) : 0);
	unsigned char *buf = malloc(cap), *start, *p, *end;
	int r = -1;

	if (!e->o.n_cors || !buf) {
		free(req_hdrs);
		free(buf);
		return buf ? http_error(wsi, ps->origin, 2, NULL, 400, KEEP_ALIVE) : -1;
	}
	start = p = buf + LWS_PRE;
	end = buf + cap - 1;
	if (lws_add_http_header_status(wsi, 204, &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH,
					 (const unsigned char *)"0", 1, &p, end) ||
	    add_hdr(wsi, "vary:", "Origin, Access-Control-Request-Headers", &p, end) ||
	    add_hdr(wsi, "connection:", ps->conn_close ? "close" : "keep-alive", &p, end))
		goto out;
	if (allow) {
		if (add_hdr(wsi, "access-control-allow-origin:", allow, &p, end) ||
		    add_hdr(wsi, "access-control-allow-methods:", "GET,HEAD,PUT,PATCH,POST,DELETE",
			    &p, end))
			goto out;
		if (req_hdrs && add_hdr(wsi, "access-control-allow-headers:", req_hdrs, &p, end))
			goto out;
		if (e->o.cors_credentials &&
		    add_hdr(wsi, "access-control-allow-credentials:", "true", &p, end))
			goto out;
	}
	if (lws_finalize_http_header(wsi, &p, end))
		goto out;
	if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_FINAL) < 0)
		goto out;
	r = lws_http_transaction_completed(wsi) ? -1 : 0;
out:
	free(req_hdrs);
	free(buf);
	return r;
}

struct sios_http_request {
	struct lws *wsi;
	struct pss *ps;
	const char *path;
	const char *method;
	int replied, result;
	char *hdr; /* the last header value handed out */
};

SIOS_EXPORT const char *sios_http_header(sios_http_request *req, const char *name)
{
	if (!req || !name)
		return NULL;
	free(req->hdr);
	req->hdr = hdr_get(req->wsi, name);
	return req->hdr;
}

SIOS_EXPORT const char *sios_http_path(const sios_http_request *req)
{
	return req ? req->path : NULL;
}

SIOS_EXPORT const char *sios_http_method(const sios_http_request *req)
{
	return req ? req->method : NULL;
}

int sios__http_reply_headers(sios_http_request *req, int status, const char *ctype,
			     const void *body, size_t len, const char *const *headers)
{
	if (!req || status < 100 || status > 599 || (len && !body))
		return SIOS_EINVAL;
	if (req->replied)
		return SIOS_EMISUSE;
	req->replied = 1;
	req->result = http_reply_ex(req->wsi, req->ps->origin, (unsigned)status, ctype, body, len,
				    KEEP_ALIVE, headers);
	return req->result < 0 ? SIOS_EIO : 0;
}

SIOS_EXPORT int sios_http_reply(sios_http_request *req, int status, const char *ctype,
				const void *body, size_t len)
{
	return sios__http_reply_headers(req, status, ctype, body, len, NULL);
}

static int app_http(sios__engine *e, struct lws *wsi, struct pss *ps, const char *uri)
{
	sios_http_request req;
	const char *method = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0    ? "GET"
			     : lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0 ? "POST"
			     : lws_hdr_total_length(wsi, WSI_TOKEN_HEAD_URI) > 0 ? "HEAD"
										  : "OTHER";

	if (e->http_cb) {
		memset(&req, 0, sizeof(req));
		req.wsi = wsi;
		req.ps = ps;
		req.path = uri;
		req.method = method;
		e->http_cb(&req, e->http_ud);
		free(req.hdr);
		if (req.replied)
			return req.result;
	}
	return http_reply(wsi, ps->origin, 404, "text/plain", "Not Found", 9, 0);
}

static int handle_http(sios__engine *e, struct lws *wsi, struct pss *ps, const char *uri)
{
	int is_get = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0;
	int is_post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
	int is_options = lws_hdr_total_length(wsi, WSI_TOKEN_OPTIONS_URI) > 0;
	sios_eio *ep = find_ep(e, uri, strlen(uri));
	sios__kv q;
	session *s;
	int code, status, r;

	pss_reset(ps);
	ps->origin = hdr_token(wsi, WSI_TOKEN_ORIGIN);
	ps->conn_close = request_wants_close(wsi);
	ps->started = sios__now_ms();
	if (!ep)
		return app_http(e, wsi, ps, uri);
	ps->ep = ep;
	if (is_options)
		return handle_options(e, wsi, ps);
	if (parse_query(wsi, &q))
		return -1;
	code = verify(e, &q, SIOS_TRANSPORT_POLLING, &s, &status);
	if (code >= 0) {
		kv_free(&q);
		if (is_post)
			return post_refuse(wsi, ps, code, NULL, status, post_has_body(wsi));
		return http_error(wsi, ps->origin, code, NULL, status, KEEP_ALIVE);
	}
	if (!s && !is_get)
		r = is_post ? post_refuse(wsi, ps, 2, NULL, 400, post_has_body(wsi))
			    : http_error(wsi, ps->origin, 2, NULL, 400, HANG_UP);
	else if (is_get)
		r = handle_get(e, wsi, ps, ep, &q, s);
	else if (is_post)
		r = handle_post_start(e, wsi, ps, s);
	else
		r = http_error(wsi, ps->origin, 3, NULL, 400, HANG_UP);
	kv_free(&q);
	return r;
}

static int get_writable(sios__engine *e, struct lws *wsi, struct pss *ps)
{
	session *s = ps->s;
	sios__str out;
	int r;

	if (ps->has_reply) {
		/* lws may free ps while completing the transaction: move out first */
		sios__str reply = ps->reply;
		char *origin = ps->origin;

		int status = ps->reply_status;

		sios__str_init(&ps->reply);
		ps->origin = NULL;
		ps->has_reply = 0;
		ps->reply_status = 0;
		ps->kind = K_NONE;
		r = status ? http_reply(wsi, origin, (unsigned)status, "application/json", reply.p,
					reply.len, KEEP_ALIVE)
			   : http_payload(wsi, origin, reply.p, reply.len);
		sios__str_free(&reply);
		free(origin);
		return r;
	}
	if (ps->kind != K_GET || !s || s->get_wsi != wsi || !s->q.len)
		return 0; /* spurious */
	sios__str_init(&out);
	q_drain_payload(e, &s->q, &out);
	s->get_wsi = NULL;
	ps->s = NULL;
	ps->kind = K_NONE;
	check_drain(s);
	{
		char *origin = ps->origin;

		ps->origin = NULL;
		r = out.oom ? -1 : http_payload(wsi, origin, out.p, out.len);
		free(origin);
	}
	sios__str_free(&out);
	return r;
}

/* ---- websocket ------------------------------------------------------- */

/* the answer to a refused upgrade; CONFIRM_UPGRADE then returns -1 */
static int upgrade_refuse(struct lws *wsi, int code, const char *msg, unsigned status)
{
	char *origin = hdr_token(wsi, WSI_TOKEN_ORIGIN);

	http_error(wsi, origin, code, msg, status, HANG_UP);
	free(origin);
	return -1;
}

static int confirm_upgrade(sios__engine *e, struct lws *wsi)
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
	ep = find_ep(e, uri, strlen(uri));
	free(uri);
	if (!ep) {
		char *origin = hdr_token(wsi, WSI_TOKEN_ORIGIN);

		http_reply(wsi, origin, 404, "text/plain", "Not Found", 9, HANG_UP);
		free(origin);
		return -1;
	}
	if (parse_query(wsi, &q))
		return -1;
	code = verify(e, &q, SIOS_TRANSPORT_WEBSOCKET, &s, &status);
	if (code < 0 && !s) {
		struct sios_request *req;

		if (sessions_full(e)) {
			e->stats.refused_connections++;
			kv_free(&q);
			return upgrade_refuse(wsi, 3, "Server is full", 503);
		}
		if (e->o.allow_request) {
			req = req_new(e, ep, wsi, &q, SIOS_TRANSPORT_WEBSOCKET);
			if (!req) {
				kv_free(&q);
				return -1;
			}
			switch (run_allow_request(e, req)) {
			case REQ_REJECTED: {
				int r = upgrade_refuse(wsi, 4, req->message, 403);

				req_free(req);
				return r;
			}
			case REQ_ACCEPTED:
				/* kept (with its headers) for ws_established */
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
	kv_free(&q);
	if (code >= 0)
		return upgrade_refuse(wsi, code, NULL, status);
	/* a second websocket on a session already upgraded or upgrading is
	 * accepted and then closed (ws_established), as Node does */
	if (s && s->transport == SIOS_TRANSPORT_POLLING && !e->o.allow_upgrades)
		return upgrade_refuse(wsi, 3, NULL, 400);
	return 0;
}

static int ws_open(sios__engine *e, struct lws *wsi, struct pss *ps, struct sios_request *req);

static int ws_established(sios__engine *e, struct lws *wsi, struct pss *ps)
{
	struct sios_request *req = NULL;
	sios__kv q;
	session *s;
	int code, status, r;
	int ulen = lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI);
	char *uri;
	sios_eio *ep;

	pss_reset(ps);
	if (ulen <= 0 || !(uri = malloc((size_t)ulen + 1)))
		return -1;
	lws_hdr_copy(wsi, uri, ulen + 1, WSI_TOKEN_GET_URI);
	ep = find_ep(e, uri, strlen(uri));
	free(uri);
	if (!ep || parse_query(wsi, &q))
		return -1;
	code = verify(e, &q, SIOS_TRANSPORT_WEBSOCKET, &s, &status);
	if (code >= 0) {
		kv_free(&q);
		return -1;
	}
	ps->ep = ep;
	if (s) {
		/* an upgrade of a polling session begins */
		kv_free(&q);
		if (s->transport != SIOS_TRANSPORT_POLLING || s->state != SIOS__S_OPEN ||
		    s->upgrade != SIOS__U_NONE) {
			/* already upgraded, upgrading or closing: this one is
			 * closed with an empty close frame, the session goes on */
			ws_kill(wsi, LWS_CLOSE_STATUS_NOSTATUS, NULL);
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
		kv_free(&q);
		if (req->state == REQ_DEFERRED) {
			ps->kind = K_WS_HELD;
			ps->req = req;
			req->ps = ps;
			return 0;
		}
		req_unlink(req);
	} else if (!(req = req_new(e, ep, wsi, &q, SIOS_TRANSPORT_WEBSOCKET))) {
		kv_free(&q);
		return -1;
	}
	r = ws_open(e, wsi, ps, req);
	req_free(req);
	return r;
}

/* A websocket handshake decided: the session opens (its open packet
 * queued), or the socket closes with 1008 and the rejection's message. */
static int ws_open(sios__engine *e, struct lws *wsi, struct pss *ps, struct sios_request *req)
{
	session *s;
	sios__str out;
	int r;

	if (req->state == REQ_REJECTED || sessions_full(e)) {
		ps->kill_msg = sios__strdup(req->state == REQ_REJECTED && req->message ? req->message
					    : req->state == REQ_REJECTED	    ? "Forbidden"
										    : "Server is full");
		ws_kill(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, ps->kill_msg);
		return 0;
	}
	s = session_new(e, req);
	if (!s)
		return -1;
	ps->kind = K_WS;
	ps->s = s;
	s->ws_wsi = wsi;
	sios__str_init(&out);
	handshake_json(e, s, 1, &out);
	r = out.oom ? SIOS_ENOMEM : push_copy(s, out.p, out.len, 0);
	sios__str_free(&out);
	if (r) {
		s->ws_wsi = NULL;
		ps->s = NULL;
		finalize(s);
		return -1;
	}
	session_opened(s);
	return 0;
}

/* The application's later decision on a deferred handshake (called from
 * sios_request_accept/reject outside the filter). */
int sios__request_decide(struct sios_request *req, int state, const char *message)
{
	sios__engine *e = req->e;
	struct lws *wsi = req->wsi;
	struct pss *ps = req->ps;
	session *opened = NULL;
	int r = 0;

	req->state = state;
	if (state == REQ_REJECTED) {
		free(req->message);
		req->message = message ? sios__strdup(message) : NULL;
	}
	if (!wsi || e->stopping) {
		/* the client has gone, or the server is stopping */
		req_unlink(req);
		req_free(req);
		return SIOS_ECLOSED;
	}
	if (req->transport == SIOS_TRANSPORT_WEBSOCKET && !ps)
		return 0; /* the upgrade is still completing: ws_established applies it */
	req_unlink(req);
	ENTER(e);
	ps->req = NULL;
	if (req->transport == SIOS_TRANSPORT_WEBSOCKET) {
		ps->kind = K_NONE;
		if (ws_open(e, wsi, ps, req) < 0) {
			ws_kill(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
			r = SIOS_ENOMEM;
		}
	} else {
		sios__str_free(&ps->reply);
		opened = polling_open(e, req, &ps->reply, &ps->reply_status);
		ps->kind = K_NONE;
		ps->has_reply = 1;
		lws_callback_on_writable(wsi);
		if (opened)
			session_opened(opened);
	}
	LEAVE(e);
	req_free(req);
	return r;
}

/* A connection ends between CONFIRM_UPGRADE and ESTABLISHED (or after): a
 * request the application still holds learns it at its decision; one it
 * does not hold any more goes now. */
static void req_wsi_gone(sios__engine *e, struct lws *wsi)
{
	for (struct sios_request *req = e->held; req; req = req->next)
		if (req->wsi == wsi) {
			req->wsi = NULL;
			req->ps = NULL;
			if (req->state != REQ_DEFERRED) {
				req_unlink(req);
				req_free(req);
			}
			return;
		}
}

/* the client of a held request has gone: a decision now gets SIOS_ECLOSED */
static void req_orphan(struct lws *wsi)
{
	struct pss *ps = lws_wsi_user(wsi);
	struct sios_request *req = ps ? ps->req : NULL;

	if (ps)
		ps->req = NULL;
	if (req) {
		req->wsi = NULL;
		req->ps = NULL;
	}
}

/* answer the session's pending GET with a noop and let it go */
static void get_answer_noop(session *s)
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
		/* a pending poll is answered by the 100 ms check (upgrade_cb) */
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
			get_answer_noop(s);
		if (s->q.len || s->state == SIOS__S_CLOSING)
			lws_callback_on_writable(wsi); /* flush, and close if closing */
		return;
	}
	/* anything else aborts the upgrade; the polling session goes on */
	sios__log(SIOS__LOG_INFO, "session %s: bad upgrade sequence", s->sid);
	sios__loop_timer_cancel(e->loop, &s->upgrade_t);
	s->probe_wsi = NULL;
	s->upgrade = SIOS__U_NONE;
	ws_kill(wsi, LWS_CLOSE_STATUS_PROTOCOL_ERR, "bad upgrade sequence");
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

		if (pong_overdue(s))
			return;
		if (sios__eio_decode(data, len, binary, &pkt) || pkt.type == SIOS__EIO_OPEN ||
		    pkt.type == SIOS__EIO_UPGRADE) {
			session_protocol_error(s, "malformed Engine.IO packet");
		} else {
			on_packet(s, &pkt);
		}
	}
}

static int ws_receive(sios__engine *e, struct lws *wsi, struct pss *ps, const void *in,
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
	while ((p = q_peek(&s->q)) && (used == 0 || p->att || used + p->buf->len + 10 <= WS_BATCH)) {
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
		q_pop(&s->q);
	}
	if (used) {
		e->ws_writes++;
		if (lws_write(wsi, e->wbuf + LWS_PRE, used, LWS_WRITE_RAW) < 0) {
			s->ws_wsi = NULL;
			ps->s = NULL;
			if (s->state == SIOS__S_OPEN)
				sios__session_close(s, SIOS_REASON_TRANSPORT_ERROR);
			else
				finalize(s);
			return -1;
		}
	}
	check_drain(s);
	if (s->q.len) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	if (s->state == SIOS__S_CLOSING) {
		/* everything delivered: close cleanly */
		s->ws_wsi = NULL;
		ps->s = NULL;
		finalize(s);
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

static int ws_writable(sios__engine *e, struct lws *wsi, struct pss *ps)
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

		dirty_unlink(s);
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

static void ws_closed(sios__engine *e, struct pss *ps, struct lws *wsi)
{
	session *s = ps->s;

	if (ps->kind == K_WS_HELD)
		req_orphan(wsi);
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
				finalize(s);
		}
	}
	pss_reset(ps);
}

static void http_closed(sios__engine *e, struct pss *ps, struct lws *wsi)
{
	session *s = ps->s;

	if (ps->kind == K_HELD)
		req_orphan(wsi);
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
	pss_reset(ps);
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
	sios__engine *e = eng_of(wsi);
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
			req_wsi_gone(e, wsi);
		break;
	case LWS_CALLBACK_HTTP:
		r = handle_http(e, wsi, ps, in ? (const char *)in : "");
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
			http_error(wsi, ps->origin, 3, "Request timeout", 408, HANG_UP);
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
				http_reply(wsi, ps->origin, 413, "application/json",
					   "{\"code\":3,\"message\":\"Payload too large\"}", 40,
					   HANG_UP);
				r = -1;
			} else if (sios__str_add(&ps->body, in, len)) {
				r = -1;
			}
		}
		break;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		r = handle_post_done(e, wsi, ps);
		break;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		r = get_writable(e, wsi, ps);
		break;
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		/* lws frees ps after either: let go of everything it holds */
		if (ps)
			http_closed(e, ps, wsi);
		break;
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		/* user is NULL here */
		if (!in || strcasecmp((const char *)in, "websocket")) {
			r = -1;
			break;
		}
		r = confirm_upgrade(e, wsi);
		break;
	case LWS_CALLBACK_ESTABLISHED:
		r = ws_established(e, wsi, ps);
		break;
	case LWS_CALLBACK_RECEIVE:
		r = ws_receive(e, wsi, ps, in, len);
		break;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		r = ws_writable(e, wsi, ps);
		break;
	case LWS_CALLBACK_CLOSED:
		if (ps)
			ws_closed(e, ps, wsi);
		break;
	default:
		r = lws_callback_http_dummy(wsi, reason, user, in, len);
		break;
	}
	LEAVE(e);
	return r;
}

/* ---- engine lifecycle ------------------------------------------------ */

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
		finalize(s);
	}
	LEAVE(e);
	sios__map_free(&e->sessions);
	while (e->held) {
		struct sios_request *req = e->held;

		e->held = req->next;
		req_free(req);
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

/* ---- the public raw Engine.IO API ------------------------------------ */

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
	if (s && SIOS__OFF_LOOP(s->eng->loop))
		return SIOS_EMISUSE;
	sios__buf *b;
	int r;

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
	return c && name ? kv_get(&c->headers, name, 1) : NULL;
}

SIOS_EXPORT const char *sios_eio_conn_query(const sios_eio_conn *c, const char *key)
{
	return c && key ? kv_get(&c->query, key, 0) : NULL;
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
		c->handshake = handshake_object(c->eng, c->ep, &c->headers, &c->query, c->remote,
						c->created);
	return c->handshake;
}

SIOS_EXPORT void sios_eio_conn_set_userdata(sios_eio_conn *c, void *ud)
{
	if (c)
		c->user = ud;
}

SIOS_EXPORT void *sios_eio_conn_userdata(const sios_eio_conn *c) { return c ? c->user : NULL; }

/* ---- fuzzing hooks ------------------------------------------------------ */

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
	s = session_new(e, &req);
	if (s) {
		sios__str_init(&out);
		handshake_json(e, s, 1, &out);
		if (!out.oom)
			push_copy(s, out.p, out.len, 0);
		sios__str_free(&out);
		session_opened(s);
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
		session_protocol_error(s, "invalid UTF-8"); /* lws's check, for real sockets */
	else if (sios__eio_decode(data, len, binary, &pkt) || pkt.type == SIOS__EIO_OPEN ||
		 pkt.type == SIOS__EIO_UPGRADE)
		session_protocol_error(s, "malformed Engine.IO packet");
	else
		on_packet(s, &pkt);
	LEAVE(e);
}
