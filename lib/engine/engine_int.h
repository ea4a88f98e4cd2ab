/* engine's private header: the session and per-connection structs and the
 * functions its files share. Nothing outside lib/engine includes it. */
#ifndef SIOS_ENGINE_INT_H
#define SIOS_ENGINE_INT_H

#include "engine.h"

/* Outbound packets: the websocket form in a shared buffer. */
typedef struct sios__outpkt {
	sios__buf *buf;
	uint8_t binary;
	uint8_t att;      /* an attachment of the packet before it */
	uint32_t natts;   /* a head: how many attachments follow */
} sios__outpkt;

typedef struct sios__outq {
	sios__outpkt *v;
	size_t head, len, cap; /* ring */
	size_t bytes;
} sios__outq;

typedef struct sios__kv {
	char *mem;
	const char **k, **v;
	size_t n;
} sios__kv;

enum { SIOS__S_OPEN = 0, SIOS__S_CLOSING = 1, SIOS__S_DEAD = 2 };
enum { SIOS__U_NONE = 0, SIOS__U_PROBING = 1, SIOS__U_PROBED = 2 };

struct sios_eio_conn {
	char sid[SIOS__ID_LEN + 1];
	sios_eio *ep;
	sios__engine *eng;
	unsigned transport;
	int state, upgrade, reason;
	int close_code;        /* websocket close frame: status (0: empty frame) */
	const char *close_why; /* and its static reason text, or NULL */
	char close_pkt; /* what ends a closing polling session: '1' or '6' */
	struct lws *get_wsi, *post_wsi, *ws_wsi, *probe_wsi;
	sios__outq q;
	sios__timer hb_t; /* heartbeat: the next ping, or the pong deadline */
	sios__timer upgrade_t, linger_t;
	uint64_t upgrade_deadline; /* a probe not finished by then is given up */
	sios__kv headers, query;
	char remote[48]; /* an IPv6 address in text fits in 46 */
	uint64_t created;  /* wall clock, ms */
	cJSON *handshake;  /* sios_eio_conn_handshake(), built on first use */
	void *user;
	struct sios_eio_conn *grave_next;
	int awaiting_pong; /* a ping went out: hb_t is the pong deadline */
	uint64_t pong_deadline; /* when awaiting_pong: dead from this instant */
	int hb_refreshed;       /* the deadline was pushed back once this ping */
	int over_low; /* the queue rose above the low-water mark */
	int slow;     /* to be closed as a slow consumer at the next flush */
	int dirty; /* on the engine's list of sessions to write */
	struct sios_eio_conn *dirty_next, *dirty_prev;
};

typedef struct sios_eio_conn session;


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
	struct sios__hold *hold;  /* a held request's disconnect watcher */
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

#define ENTER(e) ((e)->depth++)

#define LEAVE(e)                                                                           \
	do {                                                                               \
		if (--(e)->depth == 0)                                                     \
			sios__engine_reap(e);                                                           \
	} while (0)

/* close_after: what happens once the response is written, plus NO_STORE
 * for polling payloads (Cache-Control: no-store, as Node sends) */
enum { KEEP_ALIVE = 0, HANG_UP = 1, LEAVE_OPEN = 2, NO_STORE = 4 };

/* During an upgrade: every 100 ms after "3probe" a pending poll is answered
 * with a noop, so the client can pause polling and send "5" (Node's
 * engine.io does the same, and socket.io-client's tests rely on that
 * timing); at the upgrade deadline the probe is given up. */
#define UPGRADE_CHECK_MS 100

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

/* engine.c: dispatch */
sios__engine *sios__engine_of(struct lws *wsi);
void sios__pss_reset(struct pss *ps);

/* session.c: sessions and their queue */
void sios__engine_reap(sios__engine *e);
void sios__dirty_unlink(session *s);
void sios__queue_pop(sios__outq *q);
int sios__queue_drain_payload(sios__engine *e, sios__outq *q, sios__str *out);
void sios__session_finalize(session *s);
void sios__session_protocol_error(session *s, const char *why);
void sios__session_check_drain(session *s);
int sios__session_push_copy(session *s, const char *type_and_data, size_t n, int binary);
int sios__handshake_json(sios__engine *e, session *s, int ws, sios__str *out);
session *sios__session_new(sios__engine *e, struct sios_request *req);
void sios__session_opened(session *s);
int sios__pong_overdue(session *s);
void sios__session_on_packet(session *s, const sios__eio_pkt *pkt);
int sios__payload_pkt_cb(const sios__eio_pkt *pkt, void *ud);
sios__outpkt *sios__queue_peek(sios__outq *q);
int sios__sessions_full(sios__engine *e);

/* http.c: replies */
char *sios__hdr_token(struct lws *wsi, enum lws_token_indexes t);
char *sios__hdr_get(struct lws *wsi, const char *name);
int sios__request_wants_close(struct lws *wsi);
int sios__http_reply(struct lws *wsi, const char *origin, unsigned status, const char *ctype,
		      const void *body, size_t blen, int close_after);
void sios__http_error_body(sios__str *b, int code, const char *msg);
int sios__http_error(struct lws *wsi, const char *origin, int code, const char *msg,
		      unsigned status, int close_after);
int sios__http_payload(struct lws *wsi, const char *origin, const char *p, size_t n);
int sios__handle_options(sios__engine *e, struct lws *wsi, struct pss *ps);
int sios__app_http(sios__engine *e, struct lws *wsi, struct pss *ps, const char *uri);

/* request.c: handshake data, the filter, request checks */
const char *sios__kv_get(const sios__kv *kv, const char *key, int nocase);
int sios__parse_query(struct lws *wsi, sios__kv *kv);
void sios__kv_free(sios__kv *kv);
struct sios_request *sios__req_new(sios__engine *e, sios_eio *ep, struct lws *wsi,
				    sios__kv *query, unsigned transport);
void sios__req_unlink(struct sios_request *req);
void sios__req_free(struct sios_request *req);
cJSON *sios__handshake_object(sios__engine *e, sios_eio *ep, const sios__kv *headers,
			       const sios__kv *query, const char *remote, uint64_t when);
int sios__run_allow_request(sios__engine *e, struct sios_request *req);
sios_eio *sios__find_ep(sios__engine *e, const char *uri, size_t ulen);
int sios__verify_request(sios__engine *e, sios__kv *q, unsigned want_transport, session **sp,
		  int *status);
void sios__req_wsi_gone(sios__engine *e, struct lws *wsi);
void sios__req_orphan(struct lws *wsi);

/* polling.c */
/* Hold an HTTP request open (a poll, a deferred handshake), watching for
 * the client's hang-up; unhold before the reply. */
void sios__hold(sios__engine *e, struct lws *wsi, struct pss *ps);
void sios__unhold(struct lws *wsi, struct pss *ps);
session *sios__polling_open(sios__engine *e, struct sios_request *req, sios__str *out,
			     int *status);
int sios__handle_post_done(sios__engine *e, struct lws *wsi, struct pss *ps);
int sios__handle_http(sios__engine *e, struct lws *wsi, struct pss *ps, const char *uri);
int sios__get_writable(sios__engine *e, struct lws *wsi, struct pss *ps);
void sios__get_answer_noop(session *s);
void sios__http_closed(sios__engine *e, struct pss *ps, struct lws *wsi);

/* websocket.c */
int sios__ws_open(sios__engine *e, struct lws *wsi, struct pss *ps, struct sios_request *req);
void sios__ws_kill(struct lws *wsi, int status, const char *why);
void sios__upgrade_cb(sios__timer *t);
int sios__confirm_upgrade(sios__engine *e, struct lws *wsi);
int sios__ws_established(sios__engine *e, struct lws *wsi, struct pss *ps);
int sios__ws_receive(sios__engine *e, struct lws *wsi, struct pss *ps, const void *in,
		      size_t len);
int sios__ws_writable(sios__engine *e, struct lws *wsi, struct pss *ps);
void sios__ws_closed(sios__engine *e, struct pss *ps, struct lws *wsi);

#endif
