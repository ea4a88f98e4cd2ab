/* What a handshake request carries (query, headers, peer), the
 * application's handshake filter, deferred decisions, and the checks every
 * Engine.IO request goes through. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

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

const char *sios__kv_get(const sios__kv *kv, const char *key, int nocase)
{
	for (size_t i = 0; i < kv->n; i++)
		if (nocase ? sios__strcaseeq(kv->k[i], key) : !strcmp(kv->k[i], key))
			return kv->v[i];
	return NULL;
}

/* URL arguments, as lws hands them over: one decoded "k=v" per fragment.
 * A key given twice keeps its last value, as Node does (URLSearchParams
 * into an object), so a handshake never carries a key twice. */
int sios__parse_query(struct lws *wsi, sios__kv *kv)
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

void sios__kv_free(sios__kv *kv)
{
	free(kv->mem); /* the pointers are in the same block */
	memset(kv, 0, sizeof(*kv));
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
		char *cv = sios__hdr_get(wsi, e->o.keep_headers[i]);

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

struct sios_request *sios__req_new(sios__engine *e, sios_eio *ep, struct lws *wsi,
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

void sios__req_unlink(struct sios_request *req)
{
	sios__engine *e = req->e;

	for (struct sios_request **pp = &e->held; *pp; pp = &(*pp)->next)
		if (*pp == req) {
			*pp = req->next;
			e->nheld--;
			break;
		}
}

void sios__req_free(struct sios_request *req)
{
	if (!req)
		return;
	sios__kv_free(&req->query);
	sios__kv_free(&req->headers);
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
		return sios__kv_get(&req->headers, name, 1);
	free(req->hdr);
	req->hdr = sios__hdr_get(req->wsi, name);
	return req->hdr;
}

SIOS_EXPORT const char *sios_request_query(sios_request *req, const char *key)
{
	return req && key ? sios__kv_get(&req->query, key, 0) : NULL;
}

SIOS_EXPORT const char *sios_request_remote_addr(sios_request *req)
{
	return req ? req->remote : NULL;
}

/* Node's handshake object: headers, time, address, xdomain, secure,
 * issued, url, query (auth is added for a socket). */
cJSON *sios__handshake_object(sios__engine *e, sios_eio *ep, const sios__kv *headers,
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
	cJSON_AddBoolToObject(o, "xdomain", sios__kv_get(headers, "origin", 1) != NULL);
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
		req->handshake = sios__handshake_object(req->e, req->ep, &req->headers, &req->query,
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
int sios__run_allow_request(sios__engine *e, struct sios_request *req)
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

sios_eio *sios__find_ep(sios__engine *e, const char *uri, size_t ulen)
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
int sios__verify_request(sios__engine *e, sios__kv *q, unsigned want_transport, session **sp,
		  int *status)
{
	const char *eio = sios__kv_get(q, "EIO", 0), *tr = sios__kv_get(q, "transport", 0);
	const char *sid = sios__kv_get(q, "sid", 0);
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

		if (!s || sios__pong_overdue(s))
			return 1;
		*sp = s;
	}
	return -1; /* fine */
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
		sios__req_unlink(req);
		sios__req_free(req);
		return SIOS_ECLOSED;
	}
	if (req->transport == SIOS_TRANSPORT_WEBSOCKET && !ps)
		return 0; /* the upgrade is still completing: sios__ws_established applies it */
	sios__req_unlink(req);
	ENTER(e);
	ps->req = NULL;
	if (req->transport == SIOS_TRANSPORT_WEBSOCKET) {
		ps->kind = K_NONE;
		if (sios__ws_open(e, wsi, ps, req) < 0) {
			sios__ws_kill(wsi, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION, "out of memory");
			r = SIOS_ENOMEM;
		}
	} else {
		sios__str_free(&ps->reply);
		opened = sios__polling_open(e, req, &ps->reply, &ps->reply_status);
		ps->kind = K_NONE;
		ps->has_reply = 1;
		lws_callback_on_writable(wsi);
		if (opened)
			sios__session_opened(opened);
	}
	LEAVE(e);
	sios__req_free(req);
	return r;
}

/* A connection ends between CONFIRM_UPGRADE and ESTABLISHED (or after): a
 * request the application still holds learns it at its decision; one it
 * does not hold any more goes now. */
void sios__req_wsi_gone(sios__engine *e, struct lws *wsi)
{
	for (struct sios_request *req = e->held; req; req = req->next)
		if (req->wsi == wsi) {
			req->wsi = NULL;
			req->ps = NULL;
			if (req->state != REQ_DEFERRED) {
				sios__req_unlink(req);
				sios__req_free(req);
			}
			return;
		}
}

/* the client of a held request has gone: a decision now gets SIOS_ECLOSED */
void sios__req_orphan(struct lws *wsi)
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
