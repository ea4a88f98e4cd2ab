/* What the files of lib/core share with one another and with no other
 * layer. core.h is the layer's face: the structs, the adapter contract and
 * what adapters call. */
#ifndef SIOS_CORE_INT_H
#define SIOS_CORE_INT_H

#include "core.h"

/* ---- deferred frees (server.c) ----------------------------------------
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

int sios__sio_init(sios_server *srv);
void sios__sio_free(sios_server *srv);

/* queues an encoded packet for the client; flags: SIOS__PUSH_* */
int sios__send_frame(sios__client *c, sios__frame *f, unsigned flags);
void sios__room_event(struct sios_nsp *nsp, int type, const char *room, const char *sid);
struct sios_nsp *sios__cfg_nsp(struct sios_nsp *nsp); /* where handlers live */
struct sios__bcast_ack *sios__bcast_ack_new(sios_server *srv, sios_broadcast_ack_cb cb, void *ud);
void sios__bcast_ack_start(struct sios__bcast_ack *b, size_t expected, unsigned timeout_ms);

#endif
