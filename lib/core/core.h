/* core: the server object and its configuration (namespaces, sockets and
 * rooms arrive here with the Socket.IO layer). */
#ifndef SIOS_CORE_H
#define SIOS_CORE_H

#include "engine/engine.h"
#include "protocol/protocol.h"

struct sios__handler {
	char *event;
	sios_event_cb cb;
	void *ud;
	struct sios__handler *next;
};

struct sios_nsp {
	sios_server *srv;
	char *name;
	sios_connection_cb on_conn;
	void *conn_ud;
	sios_disconnect_cb on_disc;
	void *disc_ud;
	sios_event_cb on_any;
	void *any_ud;
	struct sios__handler *handlers;
	sios__map sockets; /* id -> socket */
	struct sios_nsp *next;
};

/* one per Engine.IO connection on the Socket.IO path */
typedef struct sios__client {
	sios_server *srv;
	sios_eio_conn *conn;
	sios__map sockets; /* namespace name -> socket */
	sios__packet pending; /* a binary packet waiting for attachments */
	int has_pending;
	sios_binary *bins;
	size_t nbins;
	int closed;
	struct sios__client *grave_next;
} sios__client;

struct sios__pending_ack;

struct sios_socket {
	char id[SIOS__ID_LEN + 1];
	sios_nsp *nsp;
	sios__client *client;
	cJSON *auth;
	struct sios__handler *handlers;
	sios_event_cb on_any;
	void *any_ud;
	sios_disconnect_cb on_disc;
	void *disc_ud;
	void *user;
	long long next_ack;
	struct sios__pending_ack *acks;
	int connected;
	struct sios_socket *grave_next;
};

struct sios_config {
	int port;
	char *host;
	char *path;
	sios__engine_opts eng;
};

struct sios_server {
	sios__loop loop;
	sios__engine eng;
	struct sios_config cfg;
	int running, stopped;
	struct lws_protocols protocols[2];
	sios_eio *sio_ep;
	struct sios_nsp *nsps;
	int depth;
	struct sios_socket *sock_grave;
	sios__client *client_grave;
};

int sios__sio_init(sios_server *srv);
void sios__sio_free(sios_server *srv);

#endif
