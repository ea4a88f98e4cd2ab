#include <stdlib.h>
#include <string.h>

#include "core_int.h"
#if SIOS_WITH_REDIS
#include "redis/redis.h"
#endif

static void defaults(sios_config *c)
{
	memset(c, 0, sizeof(*c));
	c->port = 3000;
	c->eng.ping_interval = 25000;
	c->eng.ping_timeout = 20000;
	c->eng.upgrade_timeout = 10000;
	c->eng.request_timeout = 30000;
	c->eng.max_payload = 1000000;
	c->eng.transports = SIOS_TRANSPORT_POLLING | SIOS_TRANSPORT_WEBSOCKET;
	c->eng.allow_upgrades = 1;
	c->max_client_nsps = 64;
	c->max_socket_rooms = 4096;
	c->max_room_name = 1024;
	c->max_pending_acks = 4096;
	c->max_attachment_bytes = 16u << 20;
	c->attachment_timeout = 30000;
	c->connect_timeout = 45000;
}

SIOS_EXPORT int sios_config_new(sios_config **out)
{
	sios_config *c;

	if (!out)
		return SIOS_EINVAL;
	*out = NULL;
	c = malloc(sizeof(*c));
	if (!c)
		return SIOS_ENOMEM;
	defaults(c);
	c->path = sios__strdup("/socket.io/");
	if (!c->path) {
		free(c);
		return SIOS_ENOMEM;
	}
	*out = c;
	return 0;
}

void sios__config_release(sios_config *c)
{
	free(c->host);
	free(c->path);
	free(c->tls_cert);
	free(c->tls_key);
	free(c->client_dir);
	free(c->redis_url);
	free(c->redis_prefix);
	sios__engine_opts_free(&c->eng);
}

SIOS_EXPORT void sios_config_free(sios_config *c)
{
	if (!c)
		return;
	sios__config_release(c);
	free(c);
}

int sios__config_copy(sios_config *dst, const sios_config *src)
{
	sios_config d;

	if (!src) {
		defaults(dst);
		dst->path = sios__strdup("/socket.io/");
		return dst->path ? 0 : SIOS_ENOMEM;
	}
	d = *src;
	d.host = NULL;
	d.path = NULL;
	d.tls_cert = d.tls_key = NULL;
	d.client_dir = NULL;
	d.redis_url = d.redis_prefix = NULL;
	if (sios__engine_opts_copy(&d.eng, &src->eng))
		return SIOS_ENOMEM;
	if ((src->host && !(d.host = sios__strdup(src->host))) ||
	    (src->tls_cert && !(d.tls_cert = sios__strdup(src->tls_cert))) ||
	    (src->tls_key && !(d.tls_key = sios__strdup(src->tls_key))) ||
	    (src->client_dir && !(d.client_dir = sios__strdup(src->client_dir))) ||
	    (src->redis_url && !(d.redis_url = sios__strdup(src->redis_url))) ||
	    (src->redis_prefix && !(d.redis_prefix = sios__strdup(src->redis_prefix))) ||
	    !(d.path = sios__strdup(src->path))) {
		sios__config_release(&d);
		return SIOS_ENOMEM;
	}
	*dst = d;
	return 0;
}

static int set_str(char **dst, const char *v)
{
	char *n = NULL;

	if (v && !(n = sios__strdup(v)))
		return SIOS_ENOMEM;
	free(*dst);
	*dst = n;
	return 0;
}

SIOS_EXPORT int sios_config_set_port(sios_config *c, int port)
{
	if (!c || port < 0 || port > 65535)
		return SIOS_EINVAL;
	c->port = port;
	return 0;
}

SIOS_EXPORT int sios_config_set_host(sios_config *c, const char *host)
{
	if (!c || (host && !*host))
		return SIOS_EINVAL;
	return set_str(&c->host, host);
}

SIOS_EXPORT int sios_config_set_path(sios_config *c, const char *path)
{
	if (!c || !path || path[0] != '/' || strchr(path, '?') || strlen(path) > 200)
		return SIOS_EINVAL;
	return set_str(&c->path, path);
}

#define MS_SETTER(name, field)                                                             \
	SIOS_EXPORT int sios_config_set_##name(sios_config *c, unsigned ms)                \
	{                                                                                  \
		if (!c || ms == 0 || ms > 0x7fffffffu)                                     \
			return SIOS_EINVAL;                                                \
		c->eng.field = ms;                                                         \
		return 0;                                                                  \
	}

MS_SETTER(ping_interval, ping_interval)
MS_SETTER(ping_timeout, ping_timeout)
MS_SETTER(upgrade_timeout, upgrade_timeout)
MS_SETTER(request_timeout, request_timeout)

SIOS_EXPORT int sios_config_set_connect_timeout(sios_config *c, unsigned ms)
{
	if (!c || ms == 0 || ms > 0x7fffffffu)
		return SIOS_EINVAL;
	c->connect_timeout = ms;
	return 0;
}

SIOS_EXPORT int sios_config_set_max_payload(sios_config *c, size_t bytes)
{
	if (!c || bytes < 64 || bytes > (1u << 30))
		return SIOS_EINVAL;
	c->eng.max_payload = bytes;
	return 0;
}

SIOS_EXPORT int sios_config_set_max_connections(sios_config *c, unsigned n)
{
	if (!c)
		return SIOS_EINVAL;
	c->eng.max_sessions = n;
	return 0;
}

SIOS_EXPORT int sios_config_set_transports(sios_config *c, unsigned mask)
{
	if (!c || !mask || (mask & ~(SIOS_TRANSPORT_POLLING | SIOS_TRANSPORT_WEBSOCKET)))
		return SIOS_EINVAL;
	c->eng.transports = mask;
	return 0;
}

SIOS_EXPORT int sios_config_set_allow_upgrades(sios_config *c, int allow)
{
	if (!c)
		return SIOS_EINVAL;
	c->eng.allow_upgrades = !!allow;
	return 0;
}

SIOS_EXPORT int sios_config_add_cors_origin(sios_config *c, const char *origin)
{
	if (!c || !origin || !*origin)
		return SIOS_EINVAL;
	return sios__strv_add(&c->eng.cors_origins, &c->eng.n_cors, origin, 0);
}

SIOS_EXPORT int sios_config_keep_header(sios_config *c, const char *name)
{
	if (!c || !name || !*name || strlen(name) > 100 || strchr(name, ':'))
		return SIOS_EINVAL;
	return sios__strv_add(&c->eng.keep_headers, &c->eng.n_keep, name, 0);
}

SIOS_EXPORT int sios_config_set_uv_loop(sios_config *c, struct uv_loop_s *uv_loop)
{
	if (!c)
		return SIOS_EINVAL;
	c->uv_loop = uv_loop;
	return 0;
}

SIOS_EXPORT int sios_config_set_tls(sios_config *c, const char *cert_file, const char *key_file)
{
	int r;

	if (!c || !cert_file || !key_file)
		return SIOS_EINVAL;
	if (!(sios_features() & SIOS_FEATURE_TLS))
		return SIOS_ENOTSUP;
	/* checked now for an early, clear error, and again by sios_server_new() */
	if ((r = sios__tls_check(cert_file, key_file)))
		return r;
	if ((r = set_str(&c->tls_cert, cert_file)) || (r = set_str(&c->tls_key, key_file)))
		return r;
	return 0;
}

SIOS_EXPORT int sios_config_set_redis(sios_config *c, const char *url)
{
	if (!c)
		return SIOS_EINVAL;
#if SIOS_WITH_REDIS
	if (url) {
		sios__redis_url u;
		int r = sios__redis_url_parse(url, &u);

		if (r)
			return r;
		sios__redis_url_clear(&u);
	}
	return set_str(&c->redis_url, url);
#else
	(void)url;
	return SIOS_ENOTSUP;
#endif
}

SIOS_EXPORT int sios_config_set_redis_prefix(sios_config *c, const char *prefix)
{
	if (!c || !prefix || !*prefix || strpbrk(prefix, "*?[]\\"))
		return SIOS_EINVAL;
	if (!SIOS_WITH_REDIS)
		return SIOS_ENOTSUP;
	return set_str(&c->redis_prefix, prefix);
}

SIOS_EXPORT int sios_config_set_redis_timeout(sios_config *c, unsigned ms)
{
	if (!c || !ms)
		return SIOS_EINVAL;
	if (!SIOS_WITH_REDIS)
		return SIOS_ENOTSUP;
	c->redis_timeout = ms;
	return 0;
}

SIOS_EXPORT int sios_config_set_recovery(sios_config *c, unsigned max_disconnection_ms,
					 int skip_middlewares)
{
	if (!c)
		return SIOS_EINVAL;
	c->recovery_ms = max_disconnection_ms;
	c->recovery_skip_mw = !!skip_middlewares;
	return 0;
}

SIOS_EXPORT int sios_config_set_reuse_port(sios_config *c, int on)
{
	if (!c)
		return SIOS_EINVAL;
	c->reuseport = !!on;
	return 0;
}

SIOS_EXPORT int sios_config_set_serve_client(sios_config *c, const char *dist_dir)
{
	if (!c || (dist_dir && !*dist_dir))
		return SIOS_EINVAL;
	return set_str(&c->client_dir, dist_dir);
}

SIOS_EXPORT int sios_config_set_max_queue(sios_config *c, size_t max_bytes, unsigned max_packets)
{
	if (!c || (max_bytes && max_bytes < 1024) || (max_packets && max_packets < 16))
		return SIOS_EINVAL;
	if (max_bytes)
		c->eng.max_queue_bytes = max_bytes;
	if (max_packets)
		c->eng.max_queue_packets = max_packets;
	return 0;
}

SIOS_EXPORT int sios_config_set_queue_low_water(sios_config *c, size_t bytes)
{
	if (!c)
		return SIOS_EINVAL;
	c->eng.low_water = bytes;
	return 0;
}

SIOS_EXPORT int sios_config_set_slow_consumer_policy(sios_config *c, int policy)
{
	if (!c || (policy != SIOS_SLOW_DISCONNECT && policy != SIOS_SLOW_DROP_OLDEST))
		return SIOS_EINVAL;
	c->eng.slow_policy = policy;
	return 0;
}

SIOS_EXPORT int sios_config_set_cleanup_empty_namespaces(sios_config *c, int on)
{
	if (!c)
		return SIOS_EINVAL;
	c->cleanup_empty_nsps = !!on;
	return 0;
}

SIOS_EXPORT int sios_config_set_max_socket_rooms(sios_config *c, unsigned n)
{
	if (!c || !n)
		return SIOS_EINVAL;
	c->max_socket_rooms = n;
	return 0;
}

SIOS_EXPORT int sios_config_set_max_room_name(sios_config *c, size_t bytes)
{
	if (!c || bytes < 32)
		return SIOS_EINVAL;
	c->max_room_name = bytes;
	return 0;
}

SIOS_EXPORT int sios_config_set_max_attachment_bytes(sios_config *c, size_t bytes)
{
	if (!c || bytes < 1024)
		return SIOS_EINVAL;
	c->max_attachment_bytes = bytes;
	return 0;
}

SIOS_EXPORT int sios_config_set_attachment_timeout(sios_config *c, unsigned ms)
{
	if (!c || ms == 0 || ms > 0x7fffffffu)
		return SIOS_EINVAL;
	c->attachment_timeout = ms;
	return 0;
}

SIOS_EXPORT int sios_config_set_max_pending_acks(sios_config *c, unsigned n)
{
	if (!c || !n)
		return SIOS_EINVAL;
	c->max_pending_acks = n;
	return 0;
}

SIOS_EXPORT int sios_config_set_max_client_namespaces(sios_config *c, unsigned n)
{
	if (!c || !n)
		return SIOS_EINVAL;
	c->max_client_nsps = n;
	return 0;
}

SIOS_EXPORT int sios_config_set_cors_credentials(sios_config *c, int on)
{
	if (!c)
		return SIOS_EINVAL;
	c->eng.cors_credentials = !!on;
	return 0;
}

SIOS_EXPORT int sios_config_set_allow_request(sios_config *c, sios_allow_request_cb cb, void *ud)
{
	if (!c)
		return SIOS_EINVAL;
	c->eng.allow_request = cb;
	c->eng.allow_request_ud = ud;
	return 0;
}
