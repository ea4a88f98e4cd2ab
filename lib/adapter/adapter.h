/* adapter: the whole contract between core and an adapter, in one header.
 *
 * An adapter carries a namespace's broadcasts and requests to the other
 * servers of a cluster (the Redis adapter) or keeps them on this one (the
 * in-memory adapter). Core calls an adapter only through the operations at
 * the end of this file; an adapter reaches this server's sockets only
 * through what core lends it (the sios__local_* functions and the
 * broadcast-ack tracker). An adapter is made per namespace by a factory,
 * with a context shared by the namespaces of one server (for a Redis
 * adapter: one connection pair, the server's uid, the request table).
 *
 * Everything runs on the loop thread. Every operation that takes a
 * callback calls it exactly once: with the result, with SIOS_ETIMEDOUT, or
 * with SIOS_ECLOSED when the adapter is closed first.
 *
 * This header names only lower layers (protocol, util) and the public API:
 * an adapter is written against it alone.
 */
#ifndef SIOS_ADAPTER_H
#define SIOS_ADAPTER_H

#include "protocol/protocol.h"

struct sios__loop;
struct sios_nsp;
struct sios_socket;
struct sios__bcast_ack;
typedef struct sios__adapter sios__adapter;

/* ---- what is broadcast and to whom ---------------------------------------- */

/* A Socket.IO event as an adapter may publish it, and its frame, encoded
 * on first use: one encode however many local recipients. */
typedef struct sios__bpacket {
	struct sios_nsp *nsp;
	const char *event;
	const cJSON *args;       /* array or NULL; borrowed */
	const sios_binary *bins; /* what its placeholders name */
	size_t nbins;
	long long ack_id;        /* -1: no acknowledgement asked */
	/* connection state recovery: an adapter that logs the packet sets its
	 * offset before the frame's first use; it goes as the last argument */
	const char *offset;
	/* core's */
	sios__frame frame;
	int encoded; /* 1 encoded, <0 the encode failed with this code */
} sios__bpacket;

/* The frame, encoded once; NULL when encoding failed (out of memory, more
 * than 1000 attachments). */
const sios__frame *sios__bpacket_frame(sios__bpacket *p);

/* The sockets in any of rooms (every socket of the namespace when there are
 * none), minus those in any of except. flags: SIOS_SCOPE_*. */
typedef struct sios__sel {
	struct sios_nsp *nsp;
	char **rooms;
	size_t nrooms;
	char **except;
	size_t nexcept;
	unsigned flags;
	unsigned timeout_ms;
} sios__sel;

/* ---- what core lends adapters -------------------------------------------- */

/* The namespace's name ("/", "/admin"). */
const char *sios__nsp_name(const struct sios_nsp *nsp);
/* Calls fn for each local socket the selection matches, once each. */
size_t sios__local_select(const sios__sel *sel, void (*fn)(struct sios_socket *s, void *ud),
			  void *ud);
/* The packet to the local sockets of sel (volatile ones only to those
 * ready); returns how many got it. */
size_t sios__local_broadcast(const sios__sel *sel, sios__bpacket *p);
/* The same asking each for an acknowledgement, registered with b; reports
 * this server's count to b; returns it. */
size_t sios__local_broadcast_with_ack(const sios__sel *sel, sios__bpacket *p,
				      struct sios__bcast_ack *b);
/* A local socket's rooms. */
int sios__local_join(struct sios_socket *s, const char *room);
int sios__local_leave(struct sios_socket *s, const char *room);
void sios__local_leave_all(struct sios_socket *s);
/* The local parts of remote joins, leaves and disconnects. */
int sios__local_add_sockets(const sios__sel *sel, const char *const *rooms, size_t n);
int sios__local_del_sockets(const sios__sel *sel, const char *const *rooms, size_t n);
int sios__local_disconnect_sockets(const sios__sel *sel, int close);
/* The local sockets of sel as Node's fetchSockets() describes them:
 * [{"id","handshake","rooms","data"}]. A new array, NULL out of memory. */
cJSON *sios__local_fetch(const sios__sel *sel);
/* Every local room's name, socket ids included. A new array. */
cJSON *sios__local_rooms(struct sios_nsp *nsp);
/* A server-side event from another server: the application's handler
 * runs. When reply is not NULL the sender wants an answer: reply runs
 * exactly once, with the handler's answer or NULL if it gave none. */
typedef void (*sios__reply_fn)(const cJSON *answer, void *ud);
void sios__server_event_in(struct sios_nsp *nsp, const cJSON *data, sios__reply_fn reply,
			   void *ud);

/* Whether a local socket is in room (a socket id is a room). */
int sios__local_has_room(struct sios_nsp *nsp, const char *room);
/* An adapter's own events (a message from another server, a timer) call
 * core between these two. */
void sios__nsp_enter(struct sios_nsp *nsp);
void sios__nsp_leave(struct sios_nsp *nsp);
/* A new ack id of the namespace (for a packet another server broadcast
 * with acks: each server numbers its own). */
long long sios__nsp_next_ack(struct sios_nsp *nsp);

/* ---- broadcasts with acknowledgements ------------------------------------- */

/* The tracker of one broadcast with acks. It completes (the application's
 * callback runs, once) when the number of servers that will report is
 * known, each has reported how many clients it asked, and that many
 * answers (or departures) have come; or at its timeout. Counts and
 * answers come in any order; after completion they are ignored. An
 * adapter that keeps the tracker past its operation holds a reference. */
void sios__bcast_ack_ref(struct sios__bcast_ack *b);
void sios__bcast_ack_unref(struct sios__bcast_ack *b);
/* How many servers will report, this one included. */
void sios__bcast_ack_servers(struct sios__bcast_ack *b, size_t n);
/* One server reported how many clients it asked. */
void sios__bcast_ack_count(struct sios__bcast_ack *b, size_t clients);
/* An answer from another server's client (copied). */
void sios__bcast_ack_answer(struct sios__bcast_ack *b, const cJSON *args,
			    const sios_binary *bins, size_t nbins);
/* Whether it has completed (a late count or answer is then dropped). */
int sios__bcast_ack_done(const struct sios__bcast_ack *b);
/* Ends it now, with status (SIOS_ETIMEDOUT, SIOS_ECLOSED) and the answers
 * that came, unless it has completed already: for an adapter that will
 * hear no more (its wait is over, it is closing). */
void sios__bcast_ack_end(struct sios__bcast_ack *b, int status);
/* A tracker for another server's broadcast with acks, which the local
 * clients answer here: each answer goes to answer(), and done() runs once,
 * when every local client asked has answered or left (after
 * sios__bcast_ack_servers(b, 1) and this server's count), or at timeout_ms
 * (0: never). The adapter holds the returned reference. */
typedef void (*sios__relay_answer_fn)(void *ud, const cJSON *args, const sios_binary *bins,
				      size_t nbins);
struct sios__bcast_ack *sios__bcast_ack_relay(struct sios_nsp *nsp, unsigned timeout_ms,
					      sios__relay_answer_fn answer,
					      void (*done)(void *ud), void *ud);

/* ---- what adapters implement ---------------------------------------------- */

typedef void (*sios__fetch_done)(int status, const cJSON *sockets, void *ud);
typedef void (*sios__count_done)(int status, size_t servers, void *ud);
typedef void (*sios__rooms_done)(int status, const cJSON *rooms, void *ud);
/* every other server's answer (status 0), or SIOS_ETIMEDOUT with those that
 * came: a JSON array of first answer arguments */
typedef void (*sios__answers_done)(int status, const cJSON *answers, void *ud);

/* Connection state recovery: what a socket leaves behind, and finds again. */
typedef struct sios__session_state {
	char pid[SIOS__ID_LEN + 1]; /* the private id the client keeps */
	char sid[SIOS__ID_LEN + 1]; /* the socket id it had */
	char **rooms;
	size_t nrooms;
	uint64_t gone_at; /* wall clock ms */
} sios__session_state;
/* st is NULL when the session is unknown or expired; missed are the frames
 * the socket did not get since the offset, in order */
typedef void (*sios__restore_done)(int status, const sios__session_state *st,
				   sios__frame *const *missed, size_t nmissed, void *ud);

struct sios__adapter_ops {
	/* local sockets join and leave (the adapter may mirror rooms) */
	int (*join)(sios__adapter *a, struct sios_socket *s, const char *room);
	int (*leave)(sios__adapter *a, struct sios_socket *s, const char *room);
	void (*leave_all)(sios__adapter *a, struct sios_socket *s);
	/* to the local sockets and, unless SIOS_SCOPE_LOCAL, the other servers */
	int (*broadcast)(sios__adapter *a, const sios__sel *sel, sios__bpacket *p);
	/* the same asking for acks: every server's count and every answer go
	 * into b, and the number of servers that will report */
	int (*broadcast_with_ack)(sios__adapter *a, const sios__sel *sel, sios__bpacket *p,
				  struct sios__bcast_ack *b);
	/* requests across the cluster, each with a timeout */
	int (*fetch_sockets)(sios__adapter *a, const sios__sel *sel, unsigned timeout_ms,
			     sios__fetch_done cb, void *ud);
	int (*add_sockets)(sios__adapter *a, const sios__sel *sel, const char *const *rooms,
			   size_t n);
	int (*del_sockets)(sios__adapter *a, const sios__sel *sel, const char *const *rooms,
			   size_t n);
	int (*disconnect_sockets)(sios__adapter *a, const sios__sel *sel, int close);
	/* data is [event, ...args]; with cb the other servers' answers */
	int (*server_side_emit)(sios__adapter *a, const cJSON *data, unsigned timeout_ms,
				sios__answers_done cb, void *ud);
	int (*server_count)(sios__adapter *a, sios__count_done cb, void *ud);
	int (*all_rooms)(sios__adapter *a, unsigned timeout_ms, sios__rooms_done cb, void *ud);
	/* connection state recovery */
	int (*persist_session)(sios__adapter *a, const sios__session_state *st);
	int (*restore_session)(sios__adapter *a, const char *pid, const char *offset,
			       sios__restore_done cb, void *ud);
	/* completes every pending callback (SIOS_ECLOSED), then frees a */
	void (*close)(sios__adapter *a);
};

struct sios__adapter {
	const struct sios__adapter_ops *ops;
	struct sios_nsp *nsp;
};

/* How a server makes its namespaces' adapters: make(ctx, nsp), with one ctx
 * for the server, released by ctx_free (may be NULL) when the server goes. */
typedef struct sios__adapter_kind {
	sios__adapter *(*make)(void *ctx, struct sios_nsp *nsp);
	void *ctx;
	void (*ctx_free)(void *ctx);
	/* (may be NULL) the server's loop is ready (after the first
	 * namespaces were made): connect; an error fails sios_server_new() */
	int (*ctx_start)(void *ctx, struct sios__loop *loop);
	/* (may be NULL) the server's loop is being torn down: close the
	 * connections to the outside; the adapters stay until closed */
	void (*ctx_stop)(void *ctx);
	/* (may be NULL) what the cluster link lost and how often it came back */
	void (*ctx_stats)(void *ctx, uint64_t *drops, uint64_t *reconnects);
	/* (may be NULL) the server's Redis connections, for the stores that
	 * share them (presence); NULL before the start and after the stop */
	struct sios__redis *(*ctx_redis)(void *ctx);
} sios__adapter_kind;

/* The in-memory adapter: this server alone. With recovery_ms it keeps the
 * sessions of disconnected sockets and a log of broadcasts for that long,
 * for connection state recovery; with 0 it keeps nothing. */
sios__adapter_kind sios__adapter_memory(unsigned recovery_ms);

/* The Redis adapter (built with Redis), wire-compatible with Node's
 * @socket.io/redis-adapter: url as in sios_config_set_redis(), prefix the
 * channels' ("socket.io" if NULL), timeout_ms what a request waits for
 * when its caller gives none (0: 5000); with recovery_ms, sessions are
 * kept in Redis and every server logs the cluster's broadcasts, so a
 * client may come back on any sios server. SIOS_ENOTSUP without Redis. */
int sios__adapter_redis(const char *url, const char *prefix, unsigned timeout_ms,
			unsigned recovery_ms, sios__adapter_kind *out);

#endif
