/* core: the server, namespaces, sockets, middleware, events, acks, the
 * room index and broadcast scopes. Every broadcast and room operation goes
 * through the namespace's adapter: the contract is adapter/adapter.h, which
 * core includes and lib/adapter implements (core names no adapter). */
#ifndef SIOS_CORE_H
#define SIOS_CORE_H

#include <regex.h>

#include "adapter/adapter.h"
#include "engine/engine.h"
#include "protocol/protocol.h"

struct sios_config {
	int port;
	char *host;
	char *path;
	int cleanup_empty_nsps;
	unsigned max_client_nsps; /* namespaces one client may be in at once */
	unsigned max_socket_rooms; /* rooms one socket may be in */
	size_t max_room_name;      /* bytes of a room's name */
	unsigned max_pending_acks; /* acks a socket may owe the server at once */
	size_t max_attachment_bytes;  /* a connection's unfinished attachments */
	unsigned attachment_timeout;  /* ms to finish a set of attachments */
	unsigned connect_timeout; /* ms a connection has to join a namespace */
	struct uv_loop_s *uv_loop;
	char *tls_cert, *tls_key;
	char *client_dir; /* socket.io-client's dist/, served under path */
	unsigned recovery_ms; /* connection state recovery window, 0: off */
	int recovery_skip_mw;
	char *redis_url, *redis_prefix; /* a cluster through Redis */
	unsigned redis_timeout;
	int reuseport;
	sios__engine_opts eng;
};

/* internals of core (core_int.h) that the structs below point to */
struct sios__handler;
struct sios__mw;
struct sios__emw;
typedef struct sios__member sios__member;

/* ---- namespaces, clients, sockets ------------------------------------- */

/* What watches a namespace's sockets from above core (presence): told as
 * a socket is about to connect, once middleware has accepted it (it may
 * hold the CONNECT reply: it returns 1 and calls sios__socket_proceed()
 * later), as it connects (before the CONNECT reply: it may join rooms),
 * and when it is gone (also when it never connected: refused, or its
 * client left first). free runs when the namespace goes. */
struct sios__watch {
	int (*connecting)(void *ud, struct sios_socket *s);
	void (*connected)(void *ud, struct sios_socket *s);
	void (*gone)(void *ud, struct sios_socket *s);
	void (*free)(void *ud);
	void *ud;
};

struct sios_nsp {
	sios_server *srv;
	char *name;
	struct sios_nsp *parent; /* for a dynamic child */
	int is_pattern;          /* a parent of dynamic children */
	regex_t re;
	int has_re;
	sios_nsp_match_cb match;
	void *match_ud;
	sios_connection_cb on_conn;
	void *conn_ud;
	sios_disconnect_cb on_disc;
	void *disc_ud;
	sios_disconnect_cb on_disconnecting;
	void *disconnecting_ud;
	sios_event_cb on_any;
	void *any_ud;
	sios_room_event_cb on_room;
	void *room_ud;
	sios_server_event_cb on_server_event; /* events from the other servers */
	void *server_event_ud;
	struct sios__handler *handlers;
	struct sios__mw *mw;
	sios__map sockets; /* id -> connected socket */
	sios__map rooms;   /* name -> sios__room */
	long long next_ack;
	size_t members; /* sockets allocated in it, connecting or not */
	sios__adapter *adapter;
	struct sios__watch watch; /* on the namespace that configures (a parent) */
	struct sios_nsp *next;
};

/* one per Engine.IO connection on the Socket.IO path */
typedef struct sios__client {
	sios_server *srv;
	sios_eio_conn *conn;
	struct sios_socket *sockets; /* connected or connecting, one per namespace */
	unsigned nsockets;
	struct sios__binwait *binwait; /* a packet waiting for its attachments */
	int closed;
	int joined; /* a namespace has been joined: connect_t is done */
	sios__timer connect_t;
	struct sios__client *grave_next;
} sios__client;

struct sios__pending_ack;

enum { SIOS__SOCK_CONNECTING = 0, SIOS__SOCK_CONNECTED = 1, SIOS__SOCK_GONE = 2 };

struct sios_socket {
	char id[SIOS__ID_LEN + 1];
	struct sios_nsp *nsp;
	sios__client *client;
	struct sios_socket *client_next; /* the client's other sockets */
	cJSON *auth;
	cJSON *handshake; /* sios_socket_handshake(), built on first use */
	uint64_t created; /* the CONNECT's time, wall clock ms */
	struct sios__handler *handlers;
	struct sios__emw *emw;
	sios_event_cb on_any;
	void *any_ud;
	sios_disconnect_cb on_disc;
	void *disc_ud;
	sios_error_cb on_error;
	void *error_ud;
	sios_drain_cb on_drain;
	void *drain_ud;
	void *user;
	struct sios__pending_ack *acks;
	size_t nacks;
	sios__map *ack_idx; /* id -> pending ack, past a few */
	int state;
	int client_gone; /* the client struct may be freed: do not touch it */
	struct sios_next *next; /* middleware in progress */
	int held;               /* a watcher holds its CONNECT reply */
	/* connection state recovery: the private id the client keeps, and
	 * for a socket that came back its rooms and missed packets, given
	 * to it as it connects */
	char pid[SIOS__ID_LEN + 1];
	int recovered;
	char **rec_rooms;
	size_t nrec_rooms;
	sios__frame *rec_missed;
	size_t nrec_missed;
	sios__member *rooms;
	size_t nrooms;
	sios__map *room_idx; /* name -> member, past a few rooms (rooms.c) */
	uint64_t seen, excluded; /* broadcast epochs */
	struct sios_socket *grave_next;
};

struct sios_server {
	sios__loop loop;
	sios__engine eng;
	struct sios_config cfg;
	int running, stopped;
	sios_eio *sio_ep;
	struct sios_nsp *nsps;
	int depth;
	struct sios_socket *sock_grave;
	sios__client *client_grave;
	uint64_t epoch;
	uint64_t nsockets;
	uint64_t packets_encoded, broadcasts, broadcast_deliveries;
	sios__adapter_kind adapters; /* makes each namespace's adapter */
	sios_http_cb app_http_cb; /* the application's, after the client bundle */
	void *app_http_ud;
	struct sios__bundle_file *bundle;
	size_t nbundle;
};

/* sios_server_new() with the namespaces' adapter kind, which the server
 * owns from the call (its context is dropped on failure too) */
int sios__server_new(const sios_config *cfg, sios__adapter_kind adapters, sios_server **out);
/* local delivery of an encoded packet (rooms.c); flags: SIOS_SCOPE_* */
int sios__local_deliver(struct sios_socket *s, sios__frame *f, unsigned flags);
void sios__local_register_ack(struct sios_socket *s, long long id, struct sios__bcast_ack *ack);
/* whether the socket may owe one more ack (sios_config_set_max_pending_acks) */
int sios__local_ack_room(const struct sios_socket *s);
void sios__bpacket_clear(sios__bpacket *p);
/* the socket as fetch_sockets reports it: id, rooms, handshake */
cJSON *sios__socket_describe(struct sios_socket *s);
/* sios_socket_disconnect() without the thread check */
int sios__socket_disconnect(struct sios_socket *s, int close_connection);
/* A watcher held the socket's CONNECT: it connects now. Returns 0, or
 * SIOS_ECLOSED when its client left meanwhile (it is then freed). */
int sios__socket_proceed(struct sios_socket *s);

#endif
