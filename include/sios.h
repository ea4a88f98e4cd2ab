/*
 * sios - an embeddable Socket.IO / Engine.IO server library for C.
 *
 * This is the only public header. The model (threads, handle lifetimes,
 * ownership, errors) is described in sios(7); every function has a man page.
 *
 * Threads: every function is called on the server's loop thread (inside a
 * sios callback, or before sios_server_run()), except sios_server_post(),
 * which is safe from any thread.
 */
#ifndef SIOS_H
#define SIOS_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(SIOS_BUILDING) && defined(__GNUC__)
#define SIOS_EXPORT __attribute__((visibility("default")))
#else
#define SIOS_EXPORT
#endif

/* ---- version and features ------------------------------------------- */

#define SIOS_VERSION_MAJOR 0
#define SIOS_VERSION_MINOR 1
#define SIOS_VERSION_PATCH 0
#define SIOS_VERSION_STRING "0.1.0"
#define SIOS_VERSION_NUMBER \
	((SIOS_VERSION_MAJOR * 10000) + (SIOS_VERSION_MINOR * 100) + SIOS_VERSION_PATCH)

/* Features compiled into this build, as returned by sios_features(). */
#define SIOS_FEATURE_REDIS 0x1u /* built WITH_REDIS=1 */
#define SIOS_FEATURE_TLS 0x2u   /* https / wss available */
#define SIOS_FEATURE_THREAD_CHECKS 0x4u /* calls off the loop thread get SIOS_EMISUSE */

/* The library's version string, e.g. "0.1.0". Static storage. */
SIOS_EXPORT const char *sios_version(void);
/* SIOS_VERSION_NUMBER of the library actually linked. */
SIOS_EXPORT int sios_version_number(void);
/* A mask of SIOS_FEATURE_* bits. */
SIOS_EXPORT unsigned sios_features(void);

/* ---- errors ---------------------------------------------------------- */

/* Negative codes; this list is append-only. */
enum sios_error {
	SIOS_OK = 0,
	SIOS_ENOMEM = -1,    /* out of memory */
	SIOS_EINVAL = -2,    /* invalid argument */
	SIOS_EMISUSE = -3,   /* wrong thread or wrong state for this call */
	SIOS_ENOTSUP = -4,   /* feature not compiled in or not supported */
	SIOS_ECLOSED = -5,   /* the connection or server is closed */
	SIOS_ETIMEDOUT = -6, /* timed out */
	SIOS_ENOENT = -7,    /* no such item */
	SIOS_EEXIST = -8,    /* item already exists */
	SIOS_EIO = -9,       /* system or network failure */
	SIOS_ETOOBIG = -10,  /* larger than the configured limit */
	SIOS_EADDR = -11,    /* could not listen on the address or port */
	SIOS_EDROPPED = -12, /* not queued: backpressure dropped the packet */
	SIOS_ETLS = -13      /* TLS certificate or key missing, unreadable or invalid */
};

/* A sentence describing err. Static storage; unknown codes get a generic text. */
SIOS_EXPORT const char *sios_strerror(int err);
/* The symbolic name of err, e.g. "SIOS_EINVAL". Static storage. */
SIOS_EXPORT const char *sios_err_name(int err);

/* ---- close and disconnect reasons ------------------------------------ */

/* Why a connection ended; append-only. sios_reason_str() gives the same
 * strings Node's socket.io uses. */
enum sios_reason {
	SIOS_REASON_TRANSPORT_CLOSE = 1,  /* the client closed the transport */
	SIOS_REASON_TRANSPORT_ERROR = 2,  /* the transport failed */
	SIOS_REASON_PING_TIMEOUT = 3,     /* no pong within pingTimeout */
	SIOS_REASON_PARSE_ERROR = 4,      /* the client sent a malformed packet */
	SIOS_REASON_FORCED_CLOSE = 5,     /* the application closed it */
	SIOS_REASON_SERVER_SHUTDOWN = 6,  /* the server is stopping */
	SIOS_REASON_CLIENT_NAMESPACE_DISCONNECT = 7,
	SIOS_REASON_SERVER_NAMESPACE_DISCONNECT = 8,
	SIOS_REASON_SLOW_CONSUMER = 9     /* its outbound queue overflowed */
};

/* "transport close", "ping timeout", ... Static storage. */
SIOS_EXPORT const char *sios_reason_str(int reason);

/* ---- logging --------------------------------------------------------- */

#define SIOS_LOG_ERR 1
#define SIOS_LOG_WARN 2
#define SIOS_LOG_INFO 3
#define SIOS_LOG_DEBUG 4
/* One line, without its newline, valid during the call. */
typedef void (*sios_log_cb)(int level, const char *line, void *ud);
/* Process-wide: lines up to level go to cb (NULL: stderr, the default, at
 * SIOS_LOG_WARN). Set it before creating servers. */
SIOS_EXPORT void sios_log_callback_set(int level, sios_log_cb cb, void *ud);

/* ---- transports ------------------------------------------------------ */

#define SIOS_TRANSPORT_POLLING 0x1u
#define SIOS_TRANSPORT_WEBSOCKET 0x2u

/* ---- configuration --------------------------------------------------- */

typedef struct sios_config sios_config;
typedef struct sios_request sios_request;

/*
 * Decide whether a handshake is accepted. Runs on the loop thread while the
 * request is being handled; call sios_request_reject() to refuse it (HTTP
 * 403). The request handle and the strings it returns are valid until the
 * callback returns.
 */
typedef void (*sios_allow_request_cb)(sios_request *req, void *ud);

/* A new configuration with every setting at its default. */
SIOS_EXPORT int sios_config_new(sios_config **out);
/* Frees cfg; NULL is accepted. Servers keep their own copy. */
SIOS_EXPORT void sios_config_free(sios_config *cfg);

/* TCP port, 0 for any free port (read it back with sios_server_port()). Default 3000. */
SIOS_EXPORT int sios_config_set_port(sios_config *cfg, int port);
/* What to listen on: an IPv4 or IPv6 address binds exactly that address, a
 * host name ("localhost") every address it resolves to, NULL every
 * interface (dual stack). Default NULL. */
SIOS_EXPORT int sios_config_set_host(sios_config *cfg, const char *host);
/* HTTP path of the Socket.IO endpoint. Default "/socket.io/". */
SIOS_EXPORT int sios_config_set_path(sios_config *cfg, const char *path);
/* Heartbeat period in ms (1..2^31). Default 25000. */
SIOS_EXPORT int sios_config_set_ping_interval(sios_config *cfg, unsigned ms);
/* Time allowed for the pong in ms (1..2^31). Default 20000. */
SIOS_EXPORT int sios_config_set_ping_timeout(sios_config *cfg, unsigned ms);
/* Time allowed for a websocket upgrade to finish, in ms. Default 10000. */
/* Time an HTTP request has to arrive whole, head and body, in ms: a client
 * sending slowly is cut off (408) rather than holding a connection.
 * Default 30000. */
SIOS_EXPORT int sios_config_set_request_timeout(sios_config *cfg, unsigned ms);
/* Time an Engine.IO connection on the Socket.IO path has to join a
 * namespace (its first CONNECT accepted) before it is closed, in ms, like
 * Node's connectTimeout. Default 45000. */
SIOS_EXPORT int sios_config_set_connect_timeout(sios_config *cfg, unsigned ms);
SIOS_EXPORT int sios_config_set_upgrade_timeout(sios_config *cfg, unsigned ms);
/* Largest accepted message / POST body in bytes (64..2^30). Default 1000000. */
SIOS_EXPORT int sios_config_set_max_payload(sios_config *cfg, size_t bytes);
/* Most simultaneous Engine.IO sessions; 0 means no limit of its own. Default 0.
 * Independently, TCP connections are capped below the process's file
 * descriptor limit; connections over either cap are refused. */
SIOS_EXPORT int sios_config_set_max_connections(sios_config *cfg, unsigned n);
/* Allowed transports, a mask of SIOS_TRANSPORT_*. Default both. */
SIOS_EXPORT int sios_config_set_transports(sios_config *cfg, unsigned mask);
/* Whether polling sessions may upgrade to websocket. Default 1. */
SIOS_EXPORT int sios_config_set_allow_upgrades(sios_config *cfg, int allow);
/* Add an origin ("https://example.com") to the CORS allow-list; "*" allows
 * every origin. Without any origin no CORS header is sent. */
SIOS_EXPORT int sios_config_add_cors_origin(sios_config *cfg, const char *origin);
/* Send Access-Control-Allow-Credentials: true. Default 0. */
SIOS_EXPORT int sios_config_set_cors_credentials(sios_config *cfg, int on);
/* Keep this non-standard request header (e.g. "x-api-key") of each
 * handshake for sios_socket_header() / sios_eio_conn_header(); standard
 * headers are always kept. */
SIOS_EXPORT int sios_config_keep_header(sios_config *cfg, const char *name);
/* Backpressure: each client's outbound queue holds at most max_bytes and
 * max_packets (0 keeps the current value). Defaults 4 MiB and 65536. */
SIOS_EXPORT int sios_config_set_max_queue(sios_config *cfg, size_t max_bytes, unsigned max_packets);
/* Below this many queued bytes a client that had more is "drained" again.
 * Default a quarter of max_bytes. */
SIOS_EXPORT int sios_config_set_queue_low_water(sios_config *cfg, size_t bytes);
/* What happens when a packet does not fit (volatile ones are just dropped):
 * disconnect the client with SIOS_REASON_SLOW_CONSUMER (the default), or
 * drop its oldest packets to make room. */
#define SIOS_SLOW_DISCONNECT 0
#define SIOS_SLOW_DROP_OLDEST 1
SIOS_EXPORT int sios_config_set_slow_consumer_policy(sios_config *cfg, int policy);
/* Remove a child namespace of sios_of_regex()/sios_of_match() when its last
 * socket leaves (its handle is then invalid). Default 0. */
SIOS_EXPORT int sios_config_set_cleanup_empty_namespaces(sios_config *cfg, int on);
/* How many namespaces one client may be connected (or connecting) to at
 * once; a CONNECT beyond it gets a connect_error "Too many namespaces".
 * Bounds what one client can make the server hold. Default 64. */
SIOS_EXPORT int sios_config_set_max_client_namespaces(sios_config *cfg, unsigned n);
/* What one client can make the server hold (see "Memory" in sios(7)):
 * rooms one socket may be in (default 4096) and the longest room name in
 * bytes (default 1024): a join beyond either is SIOS_ETOOBIG; */
SIOS_EXPORT int sios_config_set_max_socket_rooms(sios_config *cfg, unsigned n);
SIOS_EXPORT int sios_config_set_max_room_name(sios_config *cfg, size_t bytes);
/* acknowledgements a socket may owe the server at once (default 4096):
 * sios_emit_with_ack() beyond it is SIOS_ETOOBIG, a broadcast with acks
 * skips that socket; */
SIOS_EXPORT int sios_config_set_max_pending_acks(sios_config *cfg, unsigned n);
/* bytes of binary attachments a connection may have announced and not yet
 * finished (default 16 MiB), and the time it has to finish them (default
 * 30000 ms): beyond either the connection is closed as a protocol error. */
SIOS_EXPORT int sios_config_set_max_attachment_bytes(sios_config *cfg, size_t bytes);
SIOS_EXPORT int sios_config_set_attachment_timeout(sios_config *cfg, unsigned ms);
/* Run on the application's libuv loop instead of one of sios's own: the
 * application calls uv_run() itself on the thread that created the server,
 * sios_server_run() is not used, and sios_server_free() comes after the
 * loop has returned. (struct uv_loop_s is libuv's uv_loop_t.) */
struct uv_loop_s;
SIOS_EXPORT int sios_config_set_uv_loop(sios_config *cfg, struct uv_loop_s *loop);
/* Serve https and wss with this certificate chain and private key (PEM
 * files); the port then speaks TLS only. The files are checked now and
 * again by sios_server_new(): SIOS_ETLS when one is missing, unreadable,
 * not PEM, or the key does not match. SIOS_ENOTSUP without TLS. */
SIOS_EXPORT int sios_config_set_tls(sios_config *cfg, const char *cert_file, const char *key_file);
/* Serve socket.io-client's browser bundle, as Node's serveClient does: the
 * files of its dist/ directory (socket.io.min.js, socket.io.js, ... and
 * their .map) are read by sios_server_new() (SIOS_ENOENT when none is
 * there) and served at <path>socket.io.min.js etc. with an ETag and
 * Cache-Control. NULL (the default) serves nothing. */
SIOS_EXPORT int sios_config_set_serve_client(sios_config *cfg, const char *dist_dir);
/* Join a cluster through Redis (built with Redis; SIOS_ENOTSUP without):
 * the server's namespaces share rooms, broadcasts and requests with every
 * server, sios or Node (@socket.io/redis-adapter), on the same Redis and
 * prefix. url is redis://[[user]:password@]host[:port][/db] (host may be
 * [v6]) or unix:///path/to.sock[?db=N]; SIOS_EINVAL for anything else;
 * NULL leaves the cluster. The server starts whether Redis is up or not,
 * and (re)connects by itself: see sios_config_set_redis(3). */
SIOS_EXPORT int sios_config_set_redis(sios_config *cfg, const char *url);
/* The channels' prefix (default "socket.io", Node's default key). */
SIOS_EXPORT int sios_config_set_redis_prefix(sios_config *cfg, const char *prefix);
/* How long a cluster request (server count) waits when its caller gives
 * no timeout (default 5000 ms). */
SIOS_EXPORT int sios_config_set_redis_timeout(sios_config *cfg, unsigned ms);
/* SO_REUSEPORT: several processes listen on the same port and the kernel
 * spreads connections among them. Long-polling needs every request of a
 * session at the same process: use it with websocket-only clients, or
 * behind a load balancer with sticky sessions. */
SIOS_EXPORT int sios_config_set_reuse_port(sios_config *cfg, int on);
/* Connection state recovery, as Node's connectionStateRecovery: a client
 * (socket.io-client 4.6+) whose connection broke gets, if it comes back
 * within max_disconnection_ms, its socket id and rooms again and every
 * packet it missed; sios_socket_recovered() says so. With
 * skip_middlewares a recovered socket does not go through the
 * middleware again. 0 turns it off (the default). In one server's memory,
 * or with Redis (sios_config_set_redis) in Redis and in every sios
 * server's log, so a client may come back on any sios server. */
SIOS_EXPORT int sios_config_set_recovery(sios_config *cfg, unsigned max_disconnection_ms,
					 int skip_middlewares);
/* Handshake filter; NULL accepts every handshake. */
SIOS_EXPORT int sios_config_set_allow_request(sios_config *cfg, sios_allow_request_cb cb,
					      void *ud);

/* Request accessors, inside sios_allow_request_cb (or after
 * sios_request_defer() until the decision). Every string and object
 * returned is borrowed: valid until the request is decided; a
 * sios_request_header() string only until its next call on req. */
/* A request header by case-insensitive name, or NULL. */
SIOS_EXPORT const char *sios_request_header(sios_request *req, const char *name);
/* A URL query argument (decoded), or NULL. */
SIOS_EXPORT const char *sios_request_query(sios_request *req, const char *key);
/* The peer's IP address as text. */
SIOS_EXPORT const char *sios_request_remote_addr(sios_request *req);
/* Refuse the handshake: the client gets HTTP 403 with
 * {"code":4,"message":message}; NULL message means "Forbidden". */
SIOS_EXPORT int sios_request_reject(sios_request *req, const char *message);
/* The handshake as Node's socket.handshake shows it: {"headers", "time",
 * "address", "xdomain", "secure", "issued", "url", "query"}. Borrowed,
 * valid as long as req. */
SIOS_EXPORT const cJSON *sios_request_handshake(sios_request *req);
/*
 * Decide later, e.g. after asking a database without blocking the loop:
 * called inside the filter, it keeps req valid after the callback returns,
 * until the application calls sios_request_accept() or
 * sios_request_reject() once, on the loop thread. A polling handshake is
 * held open meanwhile. A websocket handshake cannot be held by
 * libwebsockets: it is upgraded, and the session opens on acceptance or
 * the socket closes with code 1008 and the message on rejection. If the
 * client has gone or the server is stopping, the decision returns
 * SIOS_ECLOSED (and req is released all the same). After defer, the
 * accessors give what was kept of the request (standard and kept headers,
 * query, address). Deferred handles die with sios_server_free().
 */
SIOS_EXPORT int sios_request_defer(sios_request *req);
/* Accept a deferred handshake (inside the filter, accepting is the
 * default and needs no call). */
SIOS_EXPORT int sios_request_accept(sios_request *req);

/* ---- server ---------------------------------------------------------- */

typedef struct sios_server sios_server;

/* A function run on the loop thread by sios_server_post(). */
typedef void (*sios_post_cb)(sios_server *srv, void *ud);

/*
 * Creates a server and starts listening (cfg is copied; NULL means defaults).
 * Nothing is served until sios_server_run(). Errors: SIOS_EINVAL,
 * SIOS_ENOMEM, SIOS_EADDR (port in use, address not ours, name unknown),
 * SIOS_ETLS (certificate or key unusable), SIOS_EIO; on error nothing is
 * left allocated or bound, *out is NULL and the log says why.
 */
SIOS_EXPORT int sios_server_new(const sios_config *cfg, sios_server **out);
/* Runs the loop on the calling thread until the server has stopped. */
SIOS_EXPORT int sios_server_run(sios_server *srv);
/* Begins a graceful stop: clients are closed with SIOS_REASON_SERVER_SHUTDOWN
 * and sios_server_run() returns. Loop thread only. */
SIOS_EXPORT int sios_server_stop(sios_server *srv);
/* Runs fn(srv, ud) on the loop thread, in order of posting. Safe from any
 * thread. SIOS_ECLOSED once the server is stopping: fn will not run. */
SIOS_EXPORT int sios_server_post(sios_server *srv, sios_post_cb fn, void *ud);
/* Stop the server gracefully when the process receives signum (SIGINT,
 * SIGTERM, ...). Installed through the loop; safe to use in any program. */
SIOS_EXPORT int sios_server_stop_on_signal(sios_server *srv, int signum);
/* The TCP port the server listens on (useful with port 0), or
 * SIOS_EINVAL for a NULL server. */
SIOS_EXPORT int sios_server_port(const sios_server *srv);
/* Frees a server that is not running; NULL is accepted. */
SIOS_EXPORT void sios_server_free(sios_server *srv);

/* ---- raw Engine.IO endpoints ----------------------------------------- */

/*
 * An Engine.IO endpoint mounted beside Socket.IO on the same port, for
 * applications that want plain Engine.IO messages. A connection handle is
 * valid from its open callback until its close callback returns.
 */
typedef struct sios_eio sios_eio;
typedef struct sios_eio_conn sios_eio_conn;

typedef void (*sios_eio_open_cb)(sios_eio_conn *conn, void *ud);
/* data is borrowed, valid until the callback returns; text is not
 * NUL-terminated. binary is 1 for a binary message, 0 for text. */
typedef void (*sios_eio_message_cb)(sios_eio_conn *conn, const void *data, size_t len,
				    int binary, void *ud);
/* reason is a SIOS_REASON_*; conn is still valid during the call. */
typedef void (*sios_eio_close_cb)(sios_eio_conn *conn, int reason, void *ud);

/* Mounts an endpoint at path (e.g. "/engine.io/"). The endpoint lives as
 * long as the server. Errors: SIOS_EINVAL, SIOS_EEXIST, SIOS_EMISUSE. */
SIOS_EXPORT int sios_eio_mount(sios_server *srv, const char *path, sios_eio **out);
SIOS_EXPORT void sios_eio_open_callback_set(sios_eio *ep, sios_eio_open_cb cb, void *ud);
SIOS_EXPORT void sios_eio_message_callback_set(sios_eio *ep, sios_eio_message_cb cb, void *ud);
SIOS_EXPORT void sios_eio_close_callback_set(sios_eio *ep, sios_eio_close_cb cb, void *ud);

/* Queue a text (UTF-8) or binary message; data is copied. Errors:
 * SIOS_ECLOSED, SIOS_ETOOBIG, SIOS_ENOMEM. */
SIOS_EXPORT int sios_eio_send_text(sios_eio_conn *conn, const char *text, size_t len);
SIOS_EXPORT int sios_eio_send_binary(sios_eio_conn *conn, const void *data, size_t len);
/* Close after queued messages are written; the close callback runs with
 * SIOS_REASON_FORCED_CLOSE before this returns. */
SIOS_EXPORT int sios_eio_close(sios_eio_conn *conn);
/* The session id (20 URL-safe characters), valid with the handle. */
SIOS_EXPORT const char *sios_eio_conn_id(const sios_eio_conn *conn);
/* SIOS_TRANSPORT_POLLING or SIOS_TRANSPORT_WEBSOCKET (after upgrade). */
SIOS_EXPORT unsigned sios_eio_conn_transport(const sios_eio_conn *conn);
/* The handshake request's header (case-insensitive name), query argument
 * and peer address; NULL when absent. Valid with the handle. */
SIOS_EXPORT const char *sios_eio_conn_header(const sios_eio_conn *conn, const char *name);
SIOS_EXPORT const char *sios_eio_conn_query(const sios_eio_conn *conn, const char *key);
SIOS_EXPORT const char *sios_eio_conn_remote_addr(const sios_eio_conn *conn);
/* The handshake as Node shows it (see sios_request_handshake()); borrowed,
 * valid with the handle. */
SIOS_EXPORT const cJSON *sios_eio_conn_handshake(const sios_eio_conn *conn);
SIOS_EXPORT void sios_eio_conn_set_userdata(sios_eio_conn *conn, void *ud);
SIOS_EXPORT void *sios_eio_conn_userdata(const sios_eio_conn *conn);


/* ---- Socket.IO: namespaces, sockets, events, acks --------------------- */

/*
 * cJSON ownership, once for all: functions that take event arguments
 * borrow them (they are serialised before the call returns; the caller
 * frees them). Arguments handed to a callback are valid until it returns.
 *
 * Binary arguments travel beside the JSON: an argument tree holds a
 * placeholder object {"_placeholder":true,"num":N} wherever a byte buffer
 * goes, at any depth, and the buffers come in an array of sios_binary, N
 * indexing it. sios_binary_placeholder() makes the object; on receipt
 * sios_event_binary() turns a placeholder back into its bytes.
 */
typedef struct sios_binary {
	const void *data;
	size_t len;
} sios_binary;

typedef struct sios_nsp sios_nsp;
typedef struct sios_socket sios_socket;
typedef struct sios_event sios_event;
typedef struct sios_ack sios_ack;

/* A new placeholder object for bins[num], to put into an argument tree. */
SIOS_EXPORT cJSON *sios_binary_placeholder(int num);

/* A socket has connected to a namespace (its CONNECT was accepted). */
typedef void (*sios_connection_cb)(sios_socket *sock, void *ud);
/* The socket has left; reason is a SIOS_REASON_*. The handle is valid
 * until the callback returns. */
typedef void (*sios_disconnect_cb)(sios_socket *sock, int reason, void *ud);
/* An event from the client. ev is valid until the callback returns. */
typedef void (*sios_event_cb)(sios_socket *sock, const sios_event *ev, void *ud);
/* The answer to an emit with an acknowledgement: status is 0 with the
 * client's arguments in resp, SIOS_ETIMEDOUT or SIOS_ECLOSED with resp
 * NULL. Runs exactly once. sock is NULL unless the socket is connected. */
typedef void (*sios_ack_cb)(sios_socket *sock, int status, const sios_event *resp, void *ud);

/* The namespace called name ("/", "/admin"), created on first use. It
 * lives as long as the server. */
SIOS_EXPORT int sios_of(sios_server *srv, const char *name, sios_nsp **out);
SIOS_EXPORT const char *sios_nsp_name(const sios_nsp *nsp);
SIOS_EXPORT void sios_nsp_connection_callback_set(sios_nsp *nsp, sios_connection_cb cb, void *ud);
SIOS_EXPORT void sios_nsp_disconnect_callback_set(sios_nsp *nsp, sios_disconnect_cb cb, void *ud);
/* A handler for event name on every socket of the namespace (a socket's
 * own handler for the same name takes precedence). NULL cb removes it. */
SIOS_EXPORT int sios_nsp_on(sios_nsp *nsp, const char *event, sios_event_cb cb, void *ud);
/* A handler called for every event of the namespace, before the others. */
SIOS_EXPORT void sios_nsp_on_any(sios_nsp *nsp, sios_event_cb cb, void *ud);

/* Per-socket handlers, like socket.on() / socket.onAny(). */
SIOS_EXPORT int sios_socket_on(sios_socket *sock, const char *event, sios_event_cb cb, void *ud);
SIOS_EXPORT void sios_socket_on_any(sios_socket *sock, sios_event_cb cb, void *ud);
SIOS_EXPORT void sios_socket_disconnect_callback_set(sios_socket *sock, sios_disconnect_cb cb,
						     void *ud);

/* Emit an event to one client. args is a cJSON array of arguments (NULL for
 * none); bins are the buffers its placeholders refer to. Reserved names
 * (connect, disconnect, ...) give SIOS_EINVAL. 0 means queued;
 * SIOS_EDROPPED means backpressure refused it (see sios_config_set_max_queue). */
SIOS_EXPORT int sios_emit(sios_socket *sock, const char *event, const cJSON *args,
			  const sios_binary *bins, size_t nbins);
/* The same, asking the client for an acknowledgement: cb runs exactly once,
 * with the answer, after timeout_ms (0: never times out) or when the socket
 * closes. On an error return cb does not run. */
SIOS_EXPORT int sios_emit_with_ack(sios_socket *sock, const char *event, const cJSON *args,
				   const sios_binary *bins, size_t nbins, unsigned timeout_ms,
				   sios_ack_cb cb, void *ud);
/* The same as a volatile packet: dropped, not queued, when the client is
 * not ready to receive it now (SIOS_EDROPPED), like socket.volatile.emit(). */
SIOS_EXPORT int sios_emit_volatile(sios_socket *sock, const char *event, const cJSON *args,
				   const sios_binary *bins, size_t nbins);
/* Leave the namespace (the client gets a DISCONNECT packet); with
 * close_connection the whole Engine.IO connection closes too. The
 * disconnect callback runs before this returns. */
SIOS_EXPORT int sios_socket_disconnect(sios_socket *sock, int close_connection);

/* The socket id (20 URL-safe characters), valid with the handle. */
SIOS_EXPORT const char *sios_socket_id(const sios_socket *sock);
SIOS_EXPORT sios_nsp *sios_socket_nsp(const sios_socket *sock);
/* The CONNECT packet's auth object; {} when the client sent none. Borrowed. */
SIOS_EXPORT const cJSON *sios_socket_auth(const sios_socket *sock);
/* 1 when the socket is one that came back (sios_config_set_recovery()):
 * same id, same rooms, missed packets replayed before anything new. */
SIOS_EXPORT int sios_socket_recovered(const sios_socket *sock);
/* Node's socket.handshake: {"headers", "time", "address", "xdomain",
 * "secure", "issued", "url", "query", "auth"}, time and issued of the
 * CONNECT. Headers are the standard ones and those named with
 * sios_config_keep_header(). Borrowed, valid with the handle. */
SIOS_EXPORT const cJSON *sios_socket_handshake(const sios_socket *sock);
/* The handshake's header, query argument and peer address (see
 * sios_eio_conn_header()). */
SIOS_EXPORT const char *sios_socket_header(const sios_socket *sock, const char *name);
SIOS_EXPORT const char *sios_socket_query(const sios_socket *sock, const char *key);
SIOS_EXPORT const char *sios_socket_remote_addr(const sios_socket *sock);
/* SIOS_TRANSPORT_POLLING or SIOS_TRANSPORT_WEBSOCKET. */
SIOS_EXPORT unsigned sios_socket_transport(const sios_socket *sock);
/* Bytes waiting in the socket's connection's outbound queue. */
SIOS_EXPORT size_t sios_socket_queued_bytes(const sios_socket *sock);
/* Runs when the connection's queue, having risen above the low-water mark,
 * falls back below it. */
typedef void (*sios_drain_cb)(sios_socket *sock, void *ud);
SIOS_EXPORT void sios_socket_drain_callback_set(sios_socket *sock, sios_drain_cb cb, void *ud);
SIOS_EXPORT void sios_socket_set_userdata(sios_socket *sock, void *ud);
SIOS_EXPORT void *sios_socket_userdata(const sios_socket *sock);
/* Look a connected socket up by id; NULL when it is gone. */
SIOS_EXPORT sios_socket *sios_nsp_socket(sios_nsp *nsp, const char *id);

/* An incoming event or acknowledgement. */
SIOS_EXPORT const char *sios_event_name(const sios_event *ev); /* NULL for an ack */
/* The arguments, a cJSON array (never NULL). Borrowed. */
SIOS_EXPORT const cJSON *sios_event_args(const sios_event *ev);
SIOS_EXPORT size_t sios_event_count(const sios_event *ev);
SIOS_EXPORT const cJSON *sios_event_arg(const sios_event *ev, size_t i);
/* The bytes a placeholder stands for, or NULL when node is not one of
 * this event's placeholders. Valid as long as ev. */
SIOS_EXPORT const sios_binary *sios_event_binary(const sios_event *ev, const cJSON *node);
/* All attachments, indexed by placeholder num (NULL when there are none). */
SIOS_EXPORT const sios_binary *sios_event_binaries(const sios_event *ev);
SIOS_EXPORT size_t sios_event_binary_count(const sios_event *ev);

/* Whether the client asked for an acknowledgement that nobody has taken
 * yet. Only looks. */
SIOS_EXPORT int sios_event_wants_ack(const sios_event *ev);
/*
 * Takes the acknowledgement the client asked for (NULL when it asked for
 * none or it was taken already). The caller owns it: the handle stays
 * valid until sios_ack_send() or sios_ack_drop(), even after the socket
 * has gone (sending then returns SIOS_ECLOSED). An acknowledgement nobody
 * takes is dropped after the handlers return.
 */
SIOS_EXPORT sios_ack *sios_event_take_ack(const sios_event *ev);
/* Answer with args and bins (borrowed) and release the handle. */
SIOS_EXPORT int sios_ack_send(sios_ack *ack, const cJSON *args, const sios_binary *bins,
			      size_t nbins);
/* Release the handle without answering; NULL is accepted. */
SIOS_EXPORT void sios_ack_drop(sios_ack *ack);

/* ---- dynamic namespaces and middleware ------------------------------- */

/* Decides whether a client may create the child namespace name (auth is
 * its CONNECT payload or NULL): non-zero accepts. */
typedef int (*sios_nsp_match_cb)(const char *name, const cJSON *auth, void *ud);

/* A parent namespace whose children are created on demand for names that
 * match a POSIX extended regular expression (sios_of_regex) or that a
 * predicate accepts (sios_of_match). Handlers, middleware and callbacks
 * set on the parent serve every child; sios_socket_nsp() gives the child,
 * sios_nsp_name() its name. Errors: SIOS_EINVAL (bad pattern), SIOS_ENOMEM. */
SIOS_EXPORT int sios_of_regex(sios_server *srv, const char *pattern, sios_nsp **out);
SIOS_EXPORT int sios_of_match(sios_server *srv, sios_nsp_match_cb match, void *ud,
			      sios_nsp **out);
/* The parent of a child namespace, NULL for any other. */
SIOS_EXPORT sios_nsp *sios_nsp_parent(const sios_nsp *nsp);

/* A CONNECT waiting on middleware; see sios_nsp_use(). */
typedef struct sios_next sios_next;
/* Runs for every CONNECT to the namespace, in the order registered. It must
 * call sios_next_accept() or sios_next_reject() once, now or later. The
 * socket is not connected yet: it can be read (id, auth, headers) but not
 * emitted to; the handle is valid until next is resolved. */
typedef void (*sios_middleware_cb)(sios_socket *sock, sios_next *next, void *ud);
SIOS_EXPORT int sios_nsp_use(sios_nsp *nsp, sios_middleware_cb cb, void *ud);
/* Pass to the next middleware, or connect. SIOS_ECLOSED when the client has
 * gone meanwhile; next is released either way. */
SIOS_EXPORT int sios_next_accept(sios_next *next);
/* Refuse: the client gets connect_error with message and data (borrowed,
 * may be NULL). next is released. */
SIOS_EXPORT int sios_next_reject(sios_next *next, const char *message, const cJSON *data);

/* Per-socket middleware on incoming events, like socket.use(): return
 * SIOS_PASS to let the event through, SIOS_DROP to drop it silently, or
 * sios_event_reject(ev, message) to refuse it: the socket's error callback
 * then gets the message and the event goes no further. */
#define SIOS_PASS 0
#define SIOS_DROP 1
#define SIOS_REJECT 2
typedef int (*sios_event_middleware_cb)(sios_socket *sock, const sios_event *ev, void *ud);
SIOS_EXPORT int sios_socket_use(sios_socket *sock, sios_event_middleware_cb cb, void *ud);
/* Records why ev is refused; returns SIOS_REJECT. */
SIOS_EXPORT int sios_event_reject(const sios_event *ev, const char *message);
typedef void (*sios_error_cb)(sios_socket *sock, const char *message, void *ud);
SIOS_EXPORT void sios_socket_error_callback_set(sios_socket *sock, sios_error_cb cb, void *ud);

/* ---- rooms ----------------------------------------------------------- */

/* Every socket is in the room named by its own id. Rooms are created by
 * the first join and removed when the last socket leaves. */
SIOS_EXPORT int sios_socket_join(sios_socket *sock, const char *room);
SIOS_EXPORT int sios_socket_leave(sios_socket *sock, const char *room);
SIOS_EXPORT int sios_socket_join_rooms(sios_socket *sock, const char *const *rooms, size_t n);
SIOS_EXPORT int sios_socket_leave_rooms(sios_socket *sock, const char *const *rooms, size_t n);
typedef void (*sios_room_cb)(const char *room, void *ud);
/* Calls cb (may be NULL) for each room of the socket; returns how many. */
SIOS_EXPORT size_t sios_socket_rooms(const sios_socket *sock, sios_room_cb cb, void *ud);
SIOS_EXPORT int sios_socket_in_room(const sios_socket *sock, const char *room);
typedef void (*sios_socket_each_cb)(sios_socket *sock, void *ud);
/* Calls cb (may be NULL) for each local socket in room; returns how many. */
SIOS_EXPORT size_t sios_room_sockets(sios_nsp *nsp, const char *room, sios_socket_each_cb cb,
				    void *ud);
/* Runs when a socket starts to leave, while it is still in its rooms. */
SIOS_EXPORT void sios_nsp_disconnecting_callback_set(sios_nsp *nsp, sios_disconnect_cb cb,
						     void *ud);

enum sios_room_event {
	SIOS_ROOM_CREATED = 1,
	SIOS_ROOM_DELETED = 2,
	SIOS_ROOM_JOINED = 3,
	SIOS_ROOM_LEFT = 4
};
/* Room lifecycle: sid is the socket for JOINED and LEFT, NULL otherwise. */
typedef void (*sios_room_event_cb)(sios_nsp *nsp, int type, const char *room, const char *sid,
				   void *ud);
SIOS_EXPORT void sios_nsp_room_callback_set(sios_nsp *nsp, sios_room_event_cb cb, void *ud);

/* ---- broadcast scopes ------------------------------------------------ */

/*
 * A scope selects sockets: those in any of its rooms (every socket of the
 * namespace when it has none), minus those in any excepted room or with an
 * excepted id. A scope made from a socket excludes that socket. Each socket
 * receives a broadcast once however many of its rooms match. A scope is the
 * caller's; free it with sios_scope_free(). It may be used many times.
 */
typedef struct sios_scope sios_scope;

#define SIOS_SCOPE_VOLATILE 0x1u /* drop for clients not ready to receive */
#define SIOS_SCOPE_COMPRESS 0x2u /* accepted; compression is off in this build */
#define SIOS_SCOPE_LOCAL 0x4u    /* this server only, not the other nodes */

SIOS_EXPORT int sios_scope_new(sios_nsp *nsp, sios_scope **out);
SIOS_EXPORT int sios_scope_from_socket(sios_socket *sock, sios_scope **out);
SIOS_EXPORT void sios_scope_free(sios_scope *sc);
SIOS_EXPORT int sios_scope_to(sios_scope *sc, const char *room);
SIOS_EXPORT int sios_scope_except(sios_scope *sc, const char *room_or_id);
SIOS_EXPORT int sios_scope_set_flags(sios_scope *sc, unsigned flags);
/* Time allowed for the acknowledgements of sios_scope_emit_with_ack(). */
SIOS_EXPORT int sios_scope_set_timeout(sios_scope *sc, unsigned ms);

/* io.to(room).emit(): every socket of nsp in room (every socket of the
 * namespace when room is NULL), across the cluster, without building a
 * scope. The packet is encoded once. */
SIOS_EXPORT int sios_room_emit(sios_nsp *nsp, const char *room, const char *event,
			       const cJSON *args, const sios_binary *bins, size_t nbins);
/* Broadcast: the packet is encoded once and shared by every recipient. */
SIOS_EXPORT int sios_scope_emit(sios_scope *sc, const char *event, const cJSON *args,
				const sios_binary *bins, size_t nbins);
/* Gathered acknowledgements: cb runs exactly once, when every recipient
 * has answered or left (status 0), or at the scope's timeout (status
 * SIOS_ETIMEDOUT) with the answers received so far. */
typedef void (*sios_broadcast_ack_cb)(int status, const sios_event *const *responses, size_t n,
				      void *ud);
SIOS_EXPORT int sios_scope_emit_with_ack(sios_scope *sc, const char *event, const cJSON *args,
					 const sios_binary *bins, size_t nbins,
					 sios_broadcast_ack_cb cb, void *ud);
/* The selected sockets as a cJSON array of {"id","rooms","handshake":
 * {"headers","query","address","auth"}}, borrowed for the callback. Runs
 * exactly once; on a single server before this returns. */
typedef void (*sios_fetch_cb)(int status, const cJSON *sockets, void *ud);
SIOS_EXPORT int sios_scope_fetch_sockets(sios_scope *sc, sios_fetch_cb cb, void *ud);
SIOS_EXPORT int sios_scope_join(sios_scope *sc, const char *room);
SIOS_EXPORT int sios_scope_leave(sios_scope *sc, const char *room);
SIOS_EXPORT int sios_scope_disconnect(sios_scope *sc, int close_connection);
/* Requests to the whole cluster run the callback exactly once: with the
 * result, with SIOS_ETIMEDOUT (and what came in time), or with
 * SIOS_ECLOSED if the server is freed first. On a single server they
 * complete before the call returns. */

/* An event for the other servers of the cluster (none on a single server):
 * theirs sios_nsp_server_event_callback_set() handlers run. args is a JSON
 * array or NULL. */
SIOS_EXPORT int sios_server_side_emit(sios_nsp *nsp, const char *event, const cJSON *args);
/* The same, gathering one answer per other server: responses is a JSON
 * array of the answers (borrowed for the callback), complete with status
 * 0, partial with SIOS_ETIMEDOUT after timeout_ms (0: 5000). */
typedef void (*sios_server_ack_cb)(int status, const cJSON *responses, void *ud);
SIOS_EXPORT int sios_server_side_emit_with_ack(sios_nsp *nsp, const char *event,
					       const cJSON *args, unsigned timeout_ms,
					       sios_server_ack_cb cb, void *ud);
/* Events that other servers sent with sios_server_side_emit(): args is the
 * array of their arguments. reply is NULL unless the sender asked for
 * answers; then answer with sios_server_reply_send() before returning (no
 * answer sends null). */
typedef struct sios_server_reply sios_server_reply;
typedef void (*sios_server_event_cb)(sios_nsp *nsp, const char *event, const cJSON *args,
				     sios_server_reply *reply, void *ud);
SIOS_EXPORT void sios_nsp_server_event_callback_set(sios_nsp *nsp, sios_server_event_cb cb,
						    void *ud);
/* answer is copied; a second answer is SIOS_EMISUSE. */
SIOS_EXPORT int sios_server_reply_send(sios_server_reply *reply, const cJSON *answer);
/* How many servers share the namespace's rooms, this one included. */
typedef void (*sios_server_count_cb)(int status, size_t servers, void *ud);
SIOS_EXPORT int sios_nsp_server_count(sios_nsp *nsp, sios_server_count_cb cb, void *ud);
/* The names of every room of the namespace on every server (sockets' own
 * rooms included), without repeats, as a JSON array borrowed for the
 * callback; timeout_ms 0 means 5000. */
typedef void (*sios_rooms_cb)(int status, const cJSON *rooms, void *ud);
SIOS_EXPORT int sios_nsp_all_rooms(sios_nsp *nsp, unsigned timeout_ms, sios_rooms_cb cb,
				   void *ud);
/* For a broadcast acknowledgement: the id of the socket that answered. */
SIOS_EXPORT const char *sios_event_socket_id(const sios_event *ev);

/* ---- plain HTTP beside Socket.IO -------------------------------------- */

typedef struct sios_http_request sios_http_request;
/* Requests outside the Engine.IO paths; answer with sios_http_reply()
 * before returning, or the client gets 404. */
typedef void (*sios_http_cb)(sios_http_request *req, void *ud);
SIOS_EXPORT void sios_server_http_callback_set(sios_server *srv, sios_http_cb cb, void *ud);
SIOS_EXPORT const char *sios_http_path(const sios_http_request *req);
SIOS_EXPORT const char *sios_http_method(const sios_http_request *req);
/* A request header by case-insensitive name, or NULL; the string is valid
 * until the next call on req or the end of the callback. */
SIOS_EXPORT const char *sios_http_header(sios_http_request *req, const char *name);
/* body is copied. */
SIOS_EXPORT int sios_http_reply(sios_http_request *req, int status, const char *content_type,
				const void *body, size_t len);

/* ---- statistics ------------------------------------------------------ */

/* Counters since the server started. Fields are only ever appended: pass
 * sizeof(sios_stats) so an older program keeps working with a newer library. */
/* ---- presence --------------------------------------------------------- */

/* Who is online: a tracker on a namespace knows which user each socket
 * belongs to, says "online" when a user's first socket connects and
 * "offline" (with lastSeen) when the last one leaves, tells the user's
 * friends (event "presence" to each friend's room "user:<friendId>",
 * which every socket of a user joins), and answers queries. See
 * sios_presence_new(3). */
typedef struct sios_presence sios_presence;
SIOS_EXPORT int sios_presence_new(sios_nsp *nsp, sios_presence **out);
SIOS_EXPORT void sios_presence_free(sios_presence *p);
/* The socket's user comes from sios_presence_set_user(), called in a
 * middleware that checked who it is, or (set a key; none by default, as a
 * client can claim any name) from the string auth[key] of its handshake. */
SIOS_EXPORT int sios_presence_set_auth_key(sios_presence *p, const char *key);
SIOS_EXPORT int sios_presence_set_user(sios_presence *p, sios_socket *sock, const char *user);
/* A user's friends (the latest list counts), told of its changes. */
SIOS_EXPORT int sios_presence_set_friends(sios_presence *p, const char *user,
					  const char *const *friends, size_t n);
/* Or asked for when a change needs them and none were set: answer with
 * sios_presence_friends_send(), now or later, once. */
typedef struct sios_presence_friends sios_presence_friends;
typedef void (*sios_presence_friends_cb)(sios_presence *p, const char *user,
					 sios_presence_friends *req, void *ud);
SIOS_EXPORT void sios_presence_friends_callback_set(sios_presence *p,
						    sios_presence_friends_cb cb, void *ud);
SIOS_EXPORT int sios_presence_friends_send(sios_presence_friends *req,
					   const char *const *friends, size_t n);
/* A user's status changed: "online", "offline" (last_seen_ms set), or one
 * the application set. */
typedef void (*sios_presence_change_cb)(sios_presence *p, const char *user, const char *status,
					uint64_t last_seen_ms, void *ud);
SIOS_EXPORT void sios_presence_change_callback_set(sios_presence *p, sios_presence_change_cb cb,
						   void *ud);
/* "offline" only after the last socket has been gone this long (a page
 * reload does not flap); default 0. */
SIOS_EXPORT int sios_presence_set_grace(sios_presence *p, unsigned ms);
/* In a cluster (sios_config_set_redis) each server keeps a heartbeat in
 * Redis for this long (default 30 s, 3 to 86400): when a server dies, the
 * others find its heartbeat gone and report its users offline. */
SIOS_EXPORT int sios_presence_set_ttl(sios_presence *p, unsigned seconds);
/* A status of the application's ("away") for a user who is online;
 * "online" again sets it back. */
SIOS_EXPORT int sios_presence_set_status(sios_presence *p, const char *user, const char *status);
/* [{userId, status, lastSeen?}, ...] in the order asked; a user never seen
 * is {userId, status:"offline"}. result is borrowed for the call. */
typedef void (*sios_presence_query_cb)(int status, const cJSON *result, void *ud);
SIOS_EXPORT int sios_presence_query(sios_presence *p, const char *const *users, size_t n,
				    sios_presence_query_cb cb, void *ud);

/* ---- the offline queue -------------------------------------------------- */

/* Messages for users: delivered to every socket of the user (room
 * "user:<id>", on any server) when presence says it is online, queued
 * when not; a socket of the user that connects gets "queued-messages"
 * with the queue in send order and an ack request, and the ack removes
 * them (at least once: without one they come again). In memory, or in
 * Redis when the server has it. Freed with its presence tracker. See
 * sios_queue_new(3). */
typedef struct sios_queue sios_queue;
SIOS_EXPORT int sios_queue_new(sios_presence *p, sios_queue **out);
SIOS_EXPORT void sios_queue_free(sios_queue *q);
/* at most max_per_user messages a user (the oldest go; default 100), at
 * most max_total_bytes queued in memory for all users together (beyond,
 * sends that would queue fail with SIOS_ETOOBIG; default 64 MiB; Redis
 * bounds per user only), each kept ttl_s seconds (default 7 days) */
SIOS_EXPORT int sios_queue_set_limits(sios_queue *q, size_t max_per_user, size_t max_total_bytes,
				      unsigned ttl_s);
/* 1 (default): queued messages are removed when the client acknowledges
 * them; 0: as they are sent, for clients that do not acknowledge */
SIOS_EXPORT int sios_queue_set_acked(sios_queue *q, int acked);
/* cb (may be NULL) says whether it was queued (1) or sent (0) */
typedef void (*sios_queue_sent_cb)(int status, int queued, void *ud);
SIOS_EXPORT int sios_queue_send(sios_queue *q, const char *user, const char *event,
				const cJSON *msg, sios_queue_sent_cb cb, void *ud);

/* Emit into a cluster from a program that is not a server (a batch job,
 * a daemon), as Node's @socket.io/redis-emitter does: sios and Node
 * servers on that Redis deliver the events to their clients. Blocking
 * calls, one Redis connection per emitter (not thread-safe: one per
 * thread). SIOS_ENOTSUP without Redis; SIOS_EIO when Redis cannot be
 * reached (the emitter connects again on the next emit). */
typedef struct sios_emitter sios_emitter;
SIOS_EXPORT int sios_emitter_new(const char *url, sios_emitter **out);
SIOS_EXPORT void sios_emitter_free(sios_emitter *em);
SIOS_EXPORT int sios_emitter_set_prefix(sios_emitter *em, const char *prefix);
/* Rooms to reach and rooms to skip on the next emit (a socket id is a
 * room); none: the whole namespace. */
SIOS_EXPORT int sios_emitter_to(sios_emitter *em, const char *room);
SIOS_EXPORT int sios_emitter_except(sios_emitter *em, const char *room);
/* nsp: "/" when NULL; "admin" means "/admin". args as for sios_emit(). */
SIOS_EXPORT int sios_emitter_emit(sios_emitter *em, const char *nsp, const char *event,
				  const cJSON *args, const sios_binary *bins, size_t nbins);

typedef struct sios_stats {
	uint64_t connections; /* Engine.IO sessions open now */
	uint64_t sessions_opened;
	uint64_t sessions_closed;
	uint64_t sockets; /* Socket.IO sockets connected now */
	uint64_t packets_in, bytes_in;
	uint64_t packets_out, bytes_out;
	uint64_t packets_encoded; /* Socket.IO packets serialised */
	uint64_t broadcasts;
	uint64_t broadcast_deliveries; /* queue pushes made by broadcasts */
	uint64_t volatile_drops;
	uint64_t refused_connections;
	uint64_t drops;                     /* packets backpressure dropped */
	uint64_t slow_consumer_disconnects; /* clients closed for a full queue */
	/* with Redis (sios_config_set_redis): messages for the other servers
	 * that never reached Redis, and how often a lost connection to it
	 * was made again */
	uint64_t cluster_drops;
	uint64_t cluster_reconnects;
} sios_stats;
SIOS_EXPORT int sios_server_stats(const sios_server *srv, sios_stats *out, size_t size);

#ifdef __cplusplus
}
#endif
#endif /* SIOS_H */
