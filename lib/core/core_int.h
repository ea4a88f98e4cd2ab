/* What the files of lib/core share with one another and with no other
 * layer. core.h is the layer's face (the structs, the adapter contract and
 * what adapters call); this header is its inside, one section per file. */
#ifndef SIOS_CORE_INT_H
#define SIOS_CORE_INT_H

#include "core.h"

/* ---- types ------------------------------------------------------------ */

/* an event handler, a middleware, an event middleware: lists in
 * registration order */
struct sios__handler {
	char *event;
	sios_event_cb cb;
	void *ud;
	struct sios__handler *next;
};

struct sios__mw {
	sios_middleware_cb cb;
	void *ud;
	struct sios__mw *next;
};

struct sios__emw {
	sios_event_middleware_cb cb;
	void *ud;
	struct sios__emw *next;
};

/* rooms: membership is a node in both the room's and the socket's list */
typedef struct sios__room {
	char *name;
	sios__member *head;
	size_t count;
} sios__room;

struct sios__member {
	sios__room *room;
	struct sios_socket *sock;
	sios__member *rprev, *rnext; /* in the room */
	sios__member *sprev, *snext; /* in the socket */
};

/* What a handler is given: an event from the client, or an answer to an
 * ack. On the stack of whoever dispatches it; copies are made only for a
 * broadcast's answers, which outlive the packet. */
struct sios_event {
	const char *name;
	cJSON *args;
	const sios_binary *bins;
	size_t nbins;
	/* the acknowledgement asked for, handed out once */
	sios_socket *sock;
	long long ack_id;
	int ack_taken;
	char *reject_msg;
	char sid[SIOS__ID_LEN + 1]; /* who answered, for broadcast acks */
};

/* ---- server.c: deferred frees ------------------------------------------
 * Every entry into core from the engine, a timer or a public call that can
 * run application callbacks is bracketed by enter/leave. Sockets and
 * clients that go away meanwhile are buried, and freed (with a dynamic
 * namespace they leave empty) when the outermost frame leaves: a handle the
 * application holds stays valid until its callback returns. */
void sios__core_enter(sios_server *srv);
void sios__core_leave(sios_server *srv);
void sios__bury_socket(struct sios_socket *s);
void sios__bury_client(sios__client *c);

/* ---- config.c --------------------------------------------------------- */
int sios__config_copy(sios_config *dst, const sios_config *src);
void sios__config_release(sios_config *c);

/* ---- serve_client.c --------------------------------------------------- */
int sios__bundle_load(sios_server *srv, const char *dir);
void sios__bundle_free(sios_server *srv);
void sios__http_dispatch(sios_http_request *req, void *ud);

/* ---- nsp.c ------------------------------------------------------------ */
int sios__nsp_new(sios_server *srv, const char *name, struct sios_nsp **out);
void sios__nsp_free(struct sios_nsp *n);
void sios__nsp_free_all(sios_server *srv);
/* a namespace by name, dynamic children included, parents not */
struct sios_nsp *sios__nsp_find(sios_server *srv, const char *name);
/* the namespace a CONNECT to name joins: a static one or a dynamic child,
 * made now if a parent accepts it; NULL for none */
struct sios_nsp *sios__nsp_resolve(sios_server *srv, const char *name, const cJSON *auth);
/* where a namespace's handlers and middleware live: a child's parent */
struct sios_nsp *sios__cfg_nsp(struct sios_nsp *nsp);
int sios__handler_set(struct sios__handler **list, const char *event, sios_event_cb cb, void *ud);
sios_event_cb sios__handler_find(const struct sios__handler *h, const char *name, void **ud);
void sios__handlers_free(struct sios__handler *h);

/* ---- client.c --------------------------------------------------------- */
int sios__client_mount(sios_server *srv);
void sios__client_free(sios__client *c);
/* queues an encoded packet for the client; flags: SIOS__PUSH_* */
int sios__send_frame(sios__client *c, sios__frame *f, unsigned flags);
int sios__send_simple(sios__client *c, int type, const char *nsp, const cJSON *data);
void sios__send_connect_error(sios__client *c, const char *nsp, const char *message,
			      const cJSON *data);
/* the client broke the protocol: its connection closes */
void sios__protocol_error(sios__client *c, const char *why);
/* s leaves the client's list; s->client_next is kept, so a walk standing
 * on s can go on */
void sios__client_unlink(sios__client *c, struct sios_socket *s);

/* ---- socket.c --------------------------------------------------------- */
int sios__socket_open(sios__client *c, struct sios_nsp *nsp, cJSON **auth);
void sios__socket_gone(struct sios_socket *s, int reason);
void sios__socket_client_closed(struct sios_socket *s, int reason);
void sios__socket_free(struct sios_socket *s);
/* encodes an EVENT (is_ack: an ACK) and queues it; flags: SIOS__PUSH_* */
int sios__socket_send(struct sios_socket *s, int is_ack, long long id, const char *event,
		      const cJSON *args, const sios_binary *bins, size_t nbins, unsigned flags);

/* ---- acks.c ----------------------------------------------------------- */
/* a broadcast with an ack: its tracker, holding one reference until cb has
 * run (completion or, when timeout_ms is not 0, the timeout) */
struct sios__bcast_ack *sios__bcast_ack_new(sios_server *srv, sios_broadcast_ack_cb cb, void *ud,
					    unsigned timeout_ms);
/* drops a tracker whose broadcast did not go out: its callback will not run */
void sios__bcast_ack_cancel(struct sios__bcast_ack *b);
/* the client's ACK packet for id */
void sios__ack_answer(struct sios_socket *s, long long id, cJSON *args, const sios_binary *bins,
		      size_t nbins);
/* the socket is gone: each of its ack callbacks runs with SIOS_ECLOSED, a
 * broadcast counts it as answered by no one */
void sios__acks_fail(struct sios_socket *s);

/* ---- event.c ---------------------------------------------------------- */
/* an event the application may emit: named, not reserved, its binaries given */
int sios__emit_ok(const char *event, const sios_binary *bins, size_t nbins);

#endif
