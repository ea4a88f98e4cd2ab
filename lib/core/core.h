/* core: the server object and its configuration (namespaces, sockets and
 * rooms arrive here with the Socket.IO layer). */
#ifndef SIOS_CORE_H
#define SIOS_CORE_H

#include "engine/engine.h"

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
};

#endif
