/* HTTP replies (status, CORS, Connection, JSON errors), the plain HTTP
 * requests handed to the application, and CORS preflights. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine_int.h"

/* a copy of a header lws knows by token, or NULL */
char *sios__hdr_token(struct lws *wsi, enum lws_token_indexes t)
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
char *sios__hdr_get(struct lws *wsi, const char *name)
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
			return sios__hdr_token(wsi, (enum lws_token_indexes)t);
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

/* Whether lws will close the connection after this request, by the rule
 * lws applies (lib/roles/http/server/server.c): HTTP/1.1 keeps it unless
 * Connection says close, HTTP/1.0 closes it unless it says keep-alive. */
int sios__request_wants_close(struct lws *wsi)
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
	return ps ? ps->conn_close : sios__request_wants_close(wsi);
}

/* Writes a whole response, with extra headers given as name, value pairs
 * (NULL-terminated); returns what the lws callback should return. */
static int http_reply_ex(struct lws *wsi, const char *origin, unsigned status, const char *ctype,
			 const void *body, size_t blen, int close_after,
			 const char *const *extra)
{
	sios__engine *e = sios__engine_of(wsi);
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

int sios__http_reply(struct lws *wsi, const char *origin, unsigned status, const char *ctype,
		      const void *body, size_t blen, int close_after)
{
	return http_reply_ex(wsi, origin, status, ctype, body, blen, close_after, NULL);
}

static const char *eio_errmsg[] = {"Transport unknown", "Session ID unknown",
				   "Bad handshake method", "Bad request", "Forbidden",
				   "Unsupported protocol version"};

/* {"code":N,"message":"..."} */
void sios__http_error_body(sios__str *b, int code, const char *msg)
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
int sios__http_error(struct lws *wsi, const char *origin, int code, const char *msg,
		      unsigned status, int close_after)
{
	sios__str b;
	int r;

	sios__str_init(&b);
	sios__http_error_body(&b, code, msg);
	if (b.oom) {
		sios__str_free(&b);
		return -1;
	}
	r = sios__http_reply(wsi, origin, status ? status : (code == 4 ? 403 : 400),
		       "application/json", b.p, b.len, close_after);
	sios__str_free(&b);
	return r;
}

int sios__http_payload(struct lws *wsi, const char *origin, const char *p, size_t n)
{
	return sios__http_reply(wsi, origin, 200, "text/plain; charset=UTF-8", p, n, NO_STORE);
}

int sios__handle_options(sios__engine *e, struct lws *wsi, struct pss *ps)
{
	const char *allow = cors_allowed(e, ps->origin);
	char *req_hdrs = sios__hdr_token(wsi, WSI_TOKEN_HTTP_AC_REQUEST_HEADERS);
	/* the requested headers are echoed back: room for all of them */
	size_t cap = LWS_PRE + HDR_ROOM + (req_hdrs ? strlen(req_hdrs) : 0) +
		     (allow ? strlen(allow) : 0);
	unsigned char *buf = malloc(cap), *start, *p, *end;
	int r = -1;

	if (!e->o.n_cors || !buf) {
		free(req_hdrs);
		free(buf);
		return buf ? sios__http_error(wsi, ps->origin, 2, NULL, 400, KEEP_ALIVE) : -1;
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
	req->hdr = sios__hdr_get(req->wsi, name);
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

int sios__app_http(sios__engine *e, struct lws *wsi, struct pss *ps, const char *uri)
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
	return sios__http_reply(wsi, ps->origin, 404, "text/plain", "Not Found", 9, 0);
}
