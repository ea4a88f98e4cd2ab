/* socket.io-client's browser bundle served under the Socket.IO path, as
 * Node's serveClient does: GET <path>socket.io.min.js (and socket.io.js,
 * socket.io.esm.min.js, socket.io.msgpack.min.js, each with its .map) from
 * the files of the client's dist/ directory, read once when the server is
 * created, with an ETag, Cache-Control and 304 for a matching
 * If-None-Match. Every other request goes on to the application. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

static const char *const bundle_names[] = {
	"socket.io.js",         "socket.io.js.map",         "socket.io.min.js",
	"socket.io.min.js.map", "socket.io.esm.min.js",     "socket.io.esm.min.js.map",
	"socket.io.msgpack.min.js", "socket.io.msgpack.min.js.map",
};

#define NBUNDLE (sizeof(bundle_names) / sizeof(bundle_names[0]))

struct sios__bundle_file {
	const char *name;
	char *data;
	size_t len;
	char etag[24]; /* "W/" is accepted too; quoted FNV-1a of the bytes */
};

static int read_file(const char *path, char **out, size_t *len)
{
	FILE *f = fopen(path, "rb");
	long n;
	char *d;

	if (!f)
		return -errno;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET)) {
		fclose(f);
		return -EIO;
	}
	d = malloc((size_t)n + 1);
	if (!d || fread(d, 1, (size_t)n, f) != (size_t)n) {
		free(d);
		fclose(f);
		return d ? -EIO : -ENOMEM;
	}
	fclose(f);
	*out = d;
	*len = (size_t)n;
	return 0;
}

void sios__bundle_free(sios_server *srv)
{
	for (size_t i = 0; i < srv->nbundle; i++)
		free(srv->bundle[i].data);
	free(srv->bundle);
	srv->bundle = NULL;
	srv->nbundle = 0;
}

int sios__bundle_load(sios_server *srv, const char *dir)
{
	size_t dl = strlen(dir);

	srv->bundle = calloc(NBUNDLE, sizeof(*srv->bundle));
	if (!srv->bundle)
		return SIOS_ENOMEM;
	for (size_t i = 0; i < NBUNDLE; i++) {
		struct sios__bundle_file *b = &srv->bundle[srv->nbundle];
		char *path = malloc(dl + strlen(bundle_names[i]) + 2);
		uint64_t h = 1469598103934665603ull;
		int r;

		if (!path)
			return SIOS_ENOMEM;
		sprintf(path, "%s/%s", dir, bundle_names[i]);
		r = read_file(path, &b->data, &b->len);
		free(path);
		if (r == -ENOENT)
			continue; /* not every build of the client has every file */
		if (r) {
			sios__log(SIOS__LOG_ERR, "client bundle %s/%s: %s", dir, bundle_names[i],
				  strerror(-r));
			return r == -ENOMEM ? SIOS_ENOMEM : SIOS_EIO;
		}
		for (size_t k = 0; k < b->len; k++)
			h = (h ^ (unsigned char)b->data[k]) * 1099511628211ull;
		snprintf(b->etag, sizeof(b->etag), "\"%016llx\"", (unsigned long long)h);
		b->name = bundle_names[i];
		srv->nbundle++;
	}
	if (!srv->nbundle) {
		sios__log(SIOS__LOG_ERR,
			  "client bundle: no socket.io.js or socket.io.min.js in %s (socket.io-client's "
			  "dist/ directory)",
			  dir);
		return SIOS_ENOENT;
	}
	return 0;
}

/* The engine's handler for requests outside the Engine.IO paths. */
void sios__http_dispatch(sios_http_request *req, void *ud)
{
	sios_server *srv = ud;
	const char *path = sios_http_path(req), *method = sios_http_method(req);
	size_t pl = strlen(srv->cfg.path);

	if (srv->nbundle && !strncmp(path, srv->cfg.path, pl) &&
	    (!strcmp(method, "GET") || !strcmp(method, "HEAD"))) {
		for (size_t i = 0; i < srv->nbundle; i++) {
			struct sios__bundle_file *b = &srv->bundle[i];
			const char *inm, *hdrs[5];
			int map;

			if (strcmp(path + pl, b->name))
				continue;
			map = strstr(b->name, ".map") != NULL;
			hdrs[0] = "Cache-Control";
			hdrs[1] = "public, max-age=0";
			hdrs[2] = "ETag";
			hdrs[3] = b->etag;
			hdrs[4] = NULL;
			inm = sios_http_header(req, "if-none-match");
			if (inm && (!strcmp(inm, b->etag) ||
				    (!strncmp(inm, "W/", 2) && !strcmp(inm + 2, b->etag)))) {
				sios__http_reply_headers(req, 304, NULL, NULL, 0, hdrs);
				return;
			}
			sios__http_reply_headers(req, 200,
						 map ? "application/json; charset=utf-8"
						     : "application/javascript; charset=utf-8",
						 b->data, strcmp(method, "HEAD") ? b->len : 0, hdrs);
			return;
		}
	}
	if (srv->app_http_cb)
		srv->app_http_cb(req, srv->app_http_ud);
}
