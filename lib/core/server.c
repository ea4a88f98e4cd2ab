/* The server: creation, run, stop, post and teardown; the deferred frees
 * that keep handles valid while core runs; statistics. */
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

/* ---- deferred frees: handles stay valid until the outermost frame ------ */

static void reap(sios_server *srv)
{
	while (srv->sock_grave) {
		sios_socket *s = srv->sock_grave;
		struct sios_nsp *n = s->nsp;

		srv->sock_grave = s->grave_next;
		if (s->next) /* middleware still owns it */
			continue;
		sios__socket_free(s);
		/* an empty dynamic child goes when configured */
		if (--n->members == 0 && n->parent && srv->cfg.cleanup_empty_nsps)
			sios__nsp_free(n);
	}
	while (srv->client_grave) {
		sios__client *c = srv->client_grave;

		srv->client_grave = c->grave_next;
		sios__client_free(c);
	}
}

void sios__core_enter(sios_server *srv) { srv->depth++; }

void sios__core_leave(sios_server *srv)
{
	if (--srv->depth == 0)
		reap(srv);
}

void sios__bury_socket(sios_socket *s)
{
	sios_server *srv = s->nsp->srv;

	s->grave_next = srv->sock_grave;
	srv->sock_grave = s;
}

void sios__bury_client(sios__client *c)
{
	c->grave_next = c->srv->client_grave;
	c->srv->client_grave = c;
}

static int core_init(sios_server *srv)
{
	struct sios_nsp *root;
	int r = sios__client_mount(srv);

	return r ? r : sios__nsp_new(srv, "/", &root);
}

static void kind_drop(sios__adapter_kind *k)
{
	if (k->ctx_free)
		k->ctx_free(k->ctx);
	k->ctx = NULL;
}

static void core_free(sios_server *srv)
{
	reap(srv);
	sios__nsp_free_all(srv);
	kind_drop(&srv->adapters);
}

static void on_stop(void *ud)
{
	sios_server *srv = ud;

	sios__engine_shutdown(&srv->eng);
}

/* the loop goes: the adapters' connections to the outside close with it */
static void on_destroy(void *ud)
{
	sios_server *srv = ud;

	if (srv->adapters.ctx_stop)
		srv->adapters.ctx_stop(srv->adapters.ctx);
}

static void flush_engine(void *ud) { sios__engine_flush(ud); }

static int accept_ok(void *ud, size_t pending)
{
	sios_server *srv = ud;

	return sios__engine_accept_ok(&srv->eng, pending);
}

static int is_drained(void *ud)
{
	sios_server *srv = ud;

	return sios__engine_drained(&srv->eng);
}

int sios__server_new(const sios_config *cfg, sios__adapter_kind adapters, sios_server **out)
{
	sios_server *srv;
	sios__loop_opts lo;
	int r;

	if (!out) {
		kind_drop(&adapters);
		return SIOS_EINVAL;
	}
	*out = NULL;
	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		kind_drop(&adapters);
		return SIOS_ENOMEM;
	}
	/* the server owns the adapters' context from here: core_free drops it */
	srv->adapters = adapters;
	r = sios__config_copy(&srv->cfg, cfg);
	if (r) {
		kind_drop(&srv->adapters);
		free(srv);
		return r;
	}
	if (getenv("SIOS_DEBUG"))
		sios__log_level = SIOS__LOG_DEBUG;
	r = sios__engine_init(&srv->eng, &srv->loop, &srv->cfg.eng);
	if (r) {
		kind_drop(&srv->adapters);
		sios__config_release(&srv->cfg);
		free(srv);
		return r;
	}
	srv->eng.http_cb = sios__http_dispatch;
	srv->eng.http_ud = srv;
	if (srv->cfg.client_dir && (r = sios__bundle_load(srv, srv->cfg.client_dir))) {
		kind_drop(&srv->adapters);
		sios__bundle_free(srv);
		sios__engine_free(&srv->eng);
		sios__config_release(&srv->cfg);
		free(srv);
		return r;
	}
	r = core_init(srv);
	if (r) {
		core_free(srv);
		sios__bundle_free(srv);
		sios__engine_free(&srv->eng);
		sios__config_release(&srv->cfg);
		free(srv);
		return r;
	}
	memset(&lo, 0, sizeof(lo));
	lo.port = srv->cfg.port;
	lo.host = srv->cfg.host;
	lo.protocols = sios__engine_protocols(&srv->eng);
	lo.user = &srv->eng;
	lo.foreign_uv = srv->cfg.uv_loop;
	lo.tls_cert = srv->cfg.tls_cert;
	lo.tls_key = srv->cfg.tls_key;
	lo.request_timeout_ms = srv->cfg.eng.request_timeout;
	lo.reuseport = srv->cfg.reuseport;
	r = sios__loop_init(&srv->loop, &lo);
	if (!r && srv->adapters.ctx_start &&
	    (r = srv->adapters.ctx_start(srv->adapters.ctx, &srv->loop))) {
		if (srv->adapters.ctx_stop)
			srv->adapters.ctx_stop(srv->adapters.ctx);
		sios__loop_free(&srv->loop);
	}
	if (r) {
		sios__engine_free(&srv->eng);
		core_free(srv);
		sios__bundle_free(srv);
		sios__config_release(&srv->cfg);
		free(srv);
		return r;
	}
	srv->loop.flush_fn = flush_engine;
	srv->loop.flush_ud = &srv->eng;
	srv->loop.on_stop = on_stop;
	srv->loop.on_destroy = on_destroy;
	srv->loop.is_drained = is_drained;
	srv->loop.accept_filter = accept_ok;
	srv->loop.hook_ud = srv;
	*out = srv;
	return 0;
}

SIOS_EXPORT int sios_server_run(sios_server *srv)
{
	if (!srv)
		return SIOS_EINVAL;
	if (srv->running || srv->stopped)
		return SIOS_EMISUSE;
	srv->running = 1;
	sios__loop_run(&srv->loop);
	srv->running = 0;
	srv->stopped = 1;
	return 0;
}

SIOS_EXPORT int sios_server_stop(sios_server *srv)
{
	if (srv && SIOS__OFF_LOOP(&srv->loop))
		return SIOS_EMISUSE;
	if (!srv)
		return SIOS_EINVAL;
	if (srv->stopped || srv->loop.stopping)
		return 0;
	sios__loop_stop(&srv->loop, 2000);
	return 0;
}

static void post_trampoline(void *a, void *b)
{
	struct {
		sios_post_cb fn;
		void *ud;
		sios_server *srv;
	} *p = a;

	SIOS__UNUSED(b);
	p->fn(p->srv, p->ud);
	free(p);
}

SIOS_EXPORT int sios_server_post(sios_server *srv, sios_post_cb fn, void *ud)
{
	struct {
		sios_post_cb fn;
		void *ud;
		sios_server *srv;
	} *p;
	int r;

	if (!srv || !fn)
		return SIOS_EINVAL;
	p = malloc(sizeof(*p));
	if (!p)
		return SIOS_ENOMEM;
	p->fn = fn;
	p->ud = ud;
	p->srv = srv;
	r = sios__loop_post(&srv->loop, post_trampoline, p, NULL);
	if (r)
		free(p);
	return r;
}

SIOS_EXPORT int sios_server_stop_on_signal(sios_server *srv, int signum)
{
	if (srv && SIOS__OFF_LOOP(&srv->loop))
		return SIOS_EMISUSE;
	if (!srv || signum <= 0)
		return SIOS_EINVAL;
	return sios__loop_stop_on_signal(&srv->loop, signum);
}

SIOS_EXPORT int sios_server_port(const sios_server *srv)
{
	return srv ? srv->loop.port : SIOS_EINVAL;
}

SIOS_EXPORT void sios_server_free(sios_server *srv)
{
	if (!srv)
		return;
	sios__loop_free(&srv->loop);
	sios__engine_free(&srv->eng);
	core_free(srv);
	sios__bundle_free(srv);
	sios__config_release(&srv->cfg);
	free(srv);
}

SIOS_EXPORT void sios_server_http_callback_set(sios_server *srv, sios_http_cb cb, void *ud)
{
	if (srv) {
		srv->app_http_cb = cb;
		srv->app_http_ud = ud;
	}
}

SIOS_EXPORT int sios_eio_mount(sios_server *srv, const char *path, sios_eio **out)
{
	if (srv && SIOS__OFF_LOOP(&srv->loop))
		return SIOS_EMISUSE;
	if (!srv || !out)
		return SIOS_EINVAL;
	if (srv->stopped || srv->loop.stopping)
		return SIOS_EMISUSE;
	return sios__engine_mount(&srv->eng, path, out);
}

SIOS_EXPORT int sios_server_stats(const sios_server *srv, sios_stats *out, size_t size)
{
	sios_stats st;
	const sios__engine_stats *e;

	if (!srv || !out || size == 0)
		return SIOS_EINVAL;
	e = &srv->eng.stats;
	memset(&st, 0, sizeof(st));
	st.connections = srv->eng.nsessions;
	st.sessions_opened = e->sessions_opened;
	st.sessions_closed = e->sessions_closed;
	st.sockets = srv->nsockets;
	st.packets_in = e->packets_in;
	st.bytes_in = e->bytes_in;
	st.packets_out = e->packets_out;
	st.bytes_out = e->bytes_out;
	st.packets_encoded = srv->packets_encoded;
	st.broadcasts = srv->broadcasts;
	st.broadcast_deliveries = srv->broadcast_deliveries;
	st.volatile_drops = e->volatile_drops;
	st.refused_connections = e->refused_connections;
	st.drops = e->drops;
	st.slow_consumer_disconnects = e->slow_consumer_disconnects;
	if (srv->adapters.ctx_stats)
		srv->adapters.ctx_stats(srv->adapters.ctx, &st.cluster_drops,
					&st.cluster_reconnects);
	memcpy(out, &st, size < sizeof(st) ? size : sizeof(st));
	return 0;
}
