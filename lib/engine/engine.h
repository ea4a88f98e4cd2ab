/* engine: Engine.IO v4 over libwebsockets. Sessions, the websocket and
 * long-polling transports, upgrade, heartbeat, outbound queues, HTTP error
 * replies and CORS. Knows nothing about Socket.IO packets or rooms. */
#ifndef SIOS_ENGINE_H
#define SIOS_ENGINE_H

#include "loop/loop.h"
#include "util/util.h"

/* ---- codec ----------------------------------------------------------- */

enum {
	SIOS__EIO_OPEN = 0,
	SIOS__EIO_CLOSE = 1,
	SIOS__EIO_PING = 2,
	SIOS__EIO_PONG = 3,
	SIOS__EIO_MESSAGE = 4,
	SIOS__EIO_UPGRADE = 5,
	SIOS__EIO_NOOP = 6
};

typedef struct sios__eio_pkt {
	int type;
	int binary;
	const char *data; /* borrowed */
	size_t len;
} sios__eio_pkt;

/* One websocket message to a packet; -1 when malformed. */
int sios__eio_decode(const char *p, size_t n, int binary_frame, sios__eio_pkt *out);
/* Return non-zero from the callback to stop decoding (that value is returned). */
typedef int (*sios__eio_payload_cb)(const sios__eio_pkt *pkt, void *ud);
/* A polling payload (packets separated by 0x1e, binary as 'b'+base64):
 * 0 when every packet was decoded, -1 when malformed, -2 out of memory. */
int sios__eio_payload_decode(const char *p, size_t n, sios__eio_payload_cb cb, void *ud);
/* Append one packet (its websocket form: type char + data, or raw binary)
 * to a polling payload. */
int sios__eio_payload_append(sios__str *out, const unsigned char *data, size_t len, int binary);

/* ---- engine ---------------------------------------------------------- */

typedef struct sios__engine_opts {
	unsigned ping_interval, ping_timeout, upgrade_timeout;
	unsigned request_timeout; /* a request's head and body must arrive within it */
	size_t max_payload;
	unsigned max_sessions;
	unsigned transports;
	int allow_upgrades;
	char **cors_origins;
	size_t n_cors;
	int cors_credentials;
	sios_allow_request_cb allow_request;
	void *allow_request_ud;
	char **keep_headers;
	size_t n_keep;
	size_t max_queue_bytes, low_water;
	unsigned max_queue_packets;
	int slow_policy;
} sios__engine_opts;

typedef struct sios__engine sios__engine;

typedef void (*sios__drain_cb)(struct sios_eio_conn *conn, void *ud);

struct sios_eio {
	sios__engine *eng;
	sios__drain_cb on_drain;
	void *drain_ud;
	char *path; /* with a trailing '/' */
	size_t path_len;
	sios_eio_open_cb on_open;
	void *open_ud;
	sios_eio_message_cb on_message;
	void *message_ud;
	sios_eio_close_cb on_close;
	void *close_ud;
	struct sios_eio *next;
};

typedef struct sios__engine_stats {
	uint64_t sessions_opened, sessions_closed;
	uint64_t packets_in, packets_out, bytes_in, bytes_out;
	uint64_t refused_connections;
	uint64_t drops, volatile_drops, slow_consumer_disconnects;
} sios__engine_stats;

struct sios__engine {
	sios__loop *loop;
	sios__engine_opts o;
	sios_eio *eps;
	sios__map sessions;
	size_t nsessions;
	long live_conns;
	unsigned fd_cap;
	int depth;
	struct sios_eio_conn *grave;
	int stopping;
	uint64_t last_refuse_log;
	sios__engine_stats stats;
	sios_http_cb http_cb; /* requests outside the Engine.IO paths */
	void *http_ud;
	struct lws_protocols protocols[2]; /* one protocol, then the terminator */
	struct sios_request *held; /* handshakes awaiting the filter or ESTABLISHED */
	size_t nheld;
	struct sios_eio_conn *dirty; /* websocket sessions with output to write */
	size_t ndirty;
	int deferred;
	unsigned char *wbuf; /* scratch for batched websocket writes */
	size_t wcap;
	uint64_t ws_writes, ws_frames;
};

/* The lws protocol callback; protocols[0] of the context. */
int sios__engine_lws_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
			size_t len);
/* Whether a newly accepted TCP connection may be served (not stopping,
 * below the descriptor cap); counts and logs a refusal. */
int sios__engine_accept_ok(sios__engine *e, size_t pending);

int sios__engine_init(sios__engine *e, sios__loop *loop, const sios__engine_opts *o);
/* The lws protocol table the context is created with. */
const struct lws_protocols *sios__engine_protocols(sios__engine *e);
/* The endpoint's drain callback: a connection's queue fell below the
 * low-water mark after rising above it. */
void sios__eio_drain_callback_set(sios_eio *ep, sios__drain_cb cb, void *ud);
void sios__engine_free(sios__engine *e);
/* Close every session with SIOS_REASON_SERVER_SHUTDOWN and refuse new ones. */
void sios__engine_shutdown(sios__engine *e);
/* Whether every session has finished writing and gone. */
int sios__engine_drained(sios__engine *e);

int sios__engine_mount(sios__engine *e, const char *path, sios_eio **out);
/* A deferred handshake's decision (sios_request_accept/reject). */
int sios__request_decide(struct sios_request *req, int state, const char *message);
/* sios_http_reply() with extra headers: name, value pairs, NULL-terminated. */
int sios__http_reply_headers(sios_http_request *req, int status, const char *ctype,
			     const void *body, size_t len, const char *const *headers);
/* Queue the websocket form of a packet (buf is referenced, not copied). */
int sios__session_push(struct sios_eio_conn *s, sios__buf *buf, int binary);
/* Queue a packet and its attachments as one group under the backpressure
 * rules: 0 queued, SIOS_EDROPPED not queued, SIOS_ECLOSED closed. */
#define SIOS__PUSH_VOLATILE 0x1u
#define SIOS__PUSH_BINARY 0x2u /* the head is a binary message */
int sios__session_push_group(struct sios_eio_conn *s, sios__buf *head, sios__buf **atts,
			     size_t natts, unsigned flags);
void sios__session_close(struct sios_eio_conn *s, int reason);
/* Bytes waiting in the session's outbound queue. */
size_t sios__session_queued_bytes(const struct sios_eio_conn *s);
/* Whether the session is open (not closing or gone). */
int sios__session_is_open(const struct sios_eio_conn *s);
/* The same with its details: SIOS__END_FLUSH delivers what is queued
 * first; a websocket gets close code ws_code (0: an empty close frame)
 * with why, a static string, as its reason. */
#define SIOS__END_FLUSH 0x1u
void sios__session_end(struct sios_eio_conn *s, int reason, unsigned flags, int ws_code,
		       const char *why);
/* Write what pushes left for websocket sessions; runs once per loop
 * iteration, after the I/O callbacks. */
void sios__engine_flush(sios__engine *e);

/* For the stateful fuzzer (tests/fuzz): a session with no transport,
 * opened on ep as a websocket handshake would open it, and one websocket
 * message fed to it as if received. What it is sent stays queued. */
struct sios_eio_conn *sios__session_fake(sios__engine *e, sios_eio *ep);
void sios__session_feed(struct sios_eio_conn *s, const void *data, size_t len, int binary);
/* For tests: what a fake session was sent, in order, each message once
 * (websocket form: "4..." for a message); returns how many. */
size_t sios__session_fake_take(struct sios_eio_conn *s,
			       void (*fn)(const void *data, size_t len, int binary, void *ud), void *ud);

void sios__engine_opts_free(sios__engine_opts *o);
int sios__engine_opts_copy(sios__engine_opts *dst, const sios__engine_opts *src);

#endif
