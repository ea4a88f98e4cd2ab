#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "loop.h"

struct sios__post {
	struct sios__post *next;
	sios__post_fn fn;
	void *a, *b;
};

static void lws_log_emit(int level, const char *line)
{
	size_t n = strlen(line);

	/* lws 4.1.6 logs every adoption with a read buffer at error level */
	if (strstr(line, "adopt_socket_readbuf: calling service") ||
	    strstr(line, "deferring handling ah"))
		return;
	while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	sios__log(level == LLL_ERR ? SIOS__LOG_ERR : SIOS__LOG_WARN, "lws: %.*s", (int)n, line);
}

static void handle_closed(uv_handle_t *h)
{
	sios__loop *l = h->data;

	l->handles_open--;
}

static void tick_cb(uv_timer_t *t)
{
	sios__loop *l = t->data;

	sios__wheel_advance(&l->wheel, sios__now_ms());
	if (!l->wheel.count && l->tick_on) {
		uv_timer_stop(&l->tick);
		l->tick_on = 0;
	}
}

void sios__loop_timer_add(sios__loop *l, sios__timer *t, uint64_t delay_ms)
{
	sios__loop_timer_at(l, t, sios__now_ms() + delay_ms);
}

void sios__loop_timer_at(sios__loop *l, sios__timer *t, uint64_t when_ms)
{
	sios__wheel_add(&l->wheel, t, when_ms);
	if (!l->tick_on && !l->destroyed) {
		l->tick_on = 1;
		uv_timer_start(&l->tick, tick_cb, SIOS__WHEEL_TICK_MS, SIOS__WHEEL_TICK_MS);
	}
}

static void flush_check_cb(uv_check_t *h)
{
	sios__loop *l = h->data;

	if (!l->flush_wanted)
		return;
	l->flush_wanted = 0;
	uv_idle_stop(&l->flush_idle);
	if (l->flush_fn)
		l->flush_fn(l->flush_ud);
}

/* at most every 2 s, once 8 MB of large messages have been handled */
#define TRIM_EVERY_MS 2000
#define TRIM_AFTER_BYTES (8u << 20)

static void trim_cb(uv_timer_t *t)
{
	SIOS__UNUSED(t);
	if (sios__trim_due(TRIM_AFTER_BYTES))
		malloc_trim(0);
}

static void flush_idle_cb(uv_idle_t *h)
{
	(void)h; /* only keeps the poll phase from blocking */
}

void sios__loop_request_flush(sios__loop *l)
{
	if (l->flush_wanted || l->destroyed)
		return;
	l->flush_wanted = 1;
	uv_idle_start(&l->flush_idle, flush_idle_cb);
}

static void run_posts(sios__loop *l)
{
	struct sios__post *p;

	pthread_mutex_lock(&l->mu);
	p = l->head;
	l->head = l->tail = NULL;
	pthread_mutex_unlock(&l->mu);
	while (p) {
		struct sios__post *n = p->next;

		p->fn(p->a, p->b);
		free(p);
		p = n;
	}
}

static void async_cb(uv_async_t *a)
{
	run_posts(a->data);
}

int sios__loop_post(sios__loop *l, sios__post_fn fn, void *a, void *b)
{
	struct sios__post *p = malloc(sizeof(*p));

	if (!p)
		return SIOS_ENOMEM;
	p->next = NULL;
	p->fn = fn;
	p->a = a;
	p->b = b;
	pthread_mutex_lock(&l->mu);
	if (l->post_closed) {
		pthread_mutex_unlock(&l->mu);
		free(p);
		return SIOS_ECLOSED;
	}
	if (l->tail)
		l->tail->next = p;
	else
		l->head = p;
	l->tail = p;
	/* under the lock: the async handle is closed only after post_closed */
	uv_async_send(&l->async);
	pthread_mutex_unlock(&l->mu);
	return 0;
}

int sios__loop_init(sios__loop *l, const sios__loop_opts *o)
{
	struct lws_context_creation_info info;
	void *foreign[1];
	int r;

	memset(l, 0, sizeof(*l));
	l->owner = pthread_self();
	sios__wheel_init(&l->wheel, sios__now_ms());
	/* everything that can fail for a reason the user must hear about comes
	 * before any handle or lws context exists */
	if (o->tls_cert && (r = sios__tls_check(o->tls_cert, o->tls_key)))
		return r;
	if ((r = sios__listen_open(l, o)))
		return r;
	/* as lws's header buffer (max_http_header_data) */
	l->max_head = o->max_http_header_data ? o->max_http_header_data : 16384;
	l->head_timeout_ms = o->request_timeout_ms ? o->request_timeout_ms : 30000;
	if (o->foreign_uv) {
		l->uv = o->foreign_uv;
	} else {
		l->uv = malloc(sizeof(*l->uv));
		if (!l->uv || uv_loop_init(l->uv)) {
			r = l->uv ? SIOS_EIO : SIOS_ENOMEM;
			free(l->uv);
			l->uv = NULL;
			sios__listen_close(l);
			free(l->listeners);
			l->listeners = NULL;
			return r;
		}
		l->own_uv = 1;
	}
	pthread_mutex_init(&l->mu, NULL);
	uv_timer_init(l->uv, &l->tick);
	l->tick.data = l;
	uv_timer_init(l->uv, &l->stop_timer);
	l->stop_timer.data = l;
	uv_async_init(l->uv, &l->async, async_cb);
	l->async.data = l;
	uv_check_init(l->uv, &l->flush_check);
	l->flush_check.data = l;
	uv_check_start(&l->flush_check, flush_check_cb);
	uv_unref((uv_handle_t *)&l->flush_check); /* never keeps the loop alive alone */
	uv_idle_init(l->uv, &l->flush_idle);
	l->flush_idle.data = l;
	uv_timer_init(l->uv, &l->trim_timer);
	l->trim_timer.data = l;
	uv_timer_start(&l->trim_timer, trim_cb, TRIM_EVERY_MS, TRIM_EVERY_MS);
	uv_unref((uv_handle_t *)&l->trim_timer); /* never keeps the loop alive alone */
	l->handles_open = 6;

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
	memset(&info, 0, sizeof(info));
	/* sios listens and accepts itself (listen.c) and hands lws each
	 * connection */
	info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
	info.protocols = o->protocols;
	info.user = o->user;
	/* text frames that are not UTF-8 close with 1007 (RFC 6455 8.1), before
	 * any other client could receive them */
	info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_UV_NO_SIGSEGV_SIGFPE_SPIN |
		       LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS | LWS_SERVER_OPTION_VALIDATE_UTF8;
	foreign[0] = l->uv;
	info.foreign_loops = foreign;
	info.pt_serv_buf_size = 64 * 1024;
	info.max_http_header_data = (unsigned short)(o->max_http_header_data ? o->max_http_header_data : 16384);
	if (o->tls_cert) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = o->tls_cert;
		info.ssl_private_key_filepath = o->tls_key;
		l->tls = 1;
	}
	info.timeout_secs = 20;
	l->ctx = lws_create_context(&info);
	l->vh = l->ctx ? lws_get_vhost_by_name(l->ctx, "default") : NULL;
	if (!l->vh) {
		sios__log(SIOS__LOG_ERR, "cannot create the libwebsockets context");
		sios__loop_free(l);
		return o->tls_cert ? SIOS_ETLS : SIOS_EIO;
	}
	if ((r = sios__listen_start(l))) {
		sios__log(SIOS__LOG_ERR, "cannot watch the listening sockets");
		sios__loop_free(l);
		return r;
	}
	return 0;
}

static void close_handles(sios__loop *l)
{
	sios__listen_close(l);
	if (l->accept_pause_on) {
		uv_close((uv_handle_t *)&l->accept_pause, handle_closed);
		l->accept_pause_on = 0;
	}
	if (l->tick_on)
		uv_timer_stop(&l->tick);
	l->tick_on = 0;
	uv_close((uv_handle_t *)&l->tick, handle_closed);
	uv_close((uv_handle_t *)&l->stop_timer, handle_closed);
	uv_timer_stop(&l->trim_timer);
	uv_close((uv_handle_t *)&l->trim_timer, handle_closed);
	uv_close((uv_handle_t *)&l->async, handle_closed);
	uv_idle_stop(&l->flush_idle);
	uv_close((uv_handle_t *)&l->flush_check, handle_closed);
	uv_close((uv_handle_t *)&l->flush_idle, handle_closed);
	for (int i = 0; i < l->nsigs; i++)
		uv_close((uv_handle_t *)&l->sigs[i], handle_closed);
}

static void finish_stop(sios__loop *l)
{
	uv_timer_stop(&l->stop_timer);
	pthread_mutex_lock(&l->mu);
	l->post_closed = 1;
	pthread_mutex_unlock(&l->mu);
	run_posts(l); /* whatever was accepted before the stop still runs */
	l->destroyed = 1;
	if (l->on_destroy)
		l->on_destroy(l->hook_ud);
	/* with a foreign loop this only begins the teardown; the second call
	 * in sios__loop_free() frees the context once the loop has run down */
	lws_context_destroy(l->ctx);
	close_handles(l);
}

static void stop_poll(uv_timer_t *t)
{
	sios__loop *l = t->data;

	if ((l->is_drained && !l->is_drained(l->hook_ud)) && sios__now_ms() < l->stop_deadline)
		return;
	finish_stop(l);
}

static void stop_begin(uv_timer_t *t)
{
	sios__loop *l = t->data;

	sios__listen_close(l); /* new connections are refused from now on */
	if (l->on_stop)
		l->on_stop(l->hook_ud);
	uv_timer_start(&l->stop_timer, stop_poll, 0, 5);
}

void sios__loop_stop(sios__loop *l, unsigned grace_ms)
{
	if (l->stopping)
		return;
	l->stopping = 1;
	pthread_mutex_lock(&l->mu);
	l->post_closed = 1; /* what was accepted before still runs */
	pthread_mutex_unlock(&l->mu);
	l->stop_deadline = sios__now_ms() + grace_ms;
	/* never tear down inside an lws callback: start from a fresh loop turn */
	uv_timer_start(&l->stop_timer, stop_begin, 0, 0);
}

int sios__loop_run(sios__loop *l)
{
	l->owner = pthread_self();
	uv_run(l->uv, UV_RUN_DEFAULT);
	return 0;
}

static void signal_cb(uv_signal_t *s, int signum)
{
	sios__loop *l = s->data;

	SIOS__UNUSED(signum);
	sios__loop_stop(l, 2000);
}

int sios__loop_stop_on_signal(sios__loop *l, int signum)
{
	uv_signal_t *s;

	if (l->nsigs >= (int)(sizeof(l->sigs) / sizeof(l->sigs[0])))
		return SIOS_ENOMEM;
	s = &l->sigs[l->nsigs];
	if (uv_signal_init(l->uv, s))
		return SIOS_EIO;
	s->data = l;
	l->nsigs++;
	l->handles_open++;
	if (uv_signal_start(s, signal_cb, signum))
		return SIOS_EINVAL;
	/* a signal handler alone must not keep the loop running */
	uv_unref((uv_handle_t *)s);
	return 0;
}

static void note_closing(uv_handle_t *h, void *arg)
{
	if (uv_is_closing(h))
		*(int *)arg = 1;
}

/* Runs the loop until what was closed has finished closing. Our own loop
 * runs until nothing is left on it; the application's may hold handles of
 * its own or of other servers, so it runs only while some handle is still
 * closing (each turn finishes the closes it can). */
static void run_down(sios__loop *l)
{
	if (l->own_uv) {
		uv_run(l->uv, UV_RUN_DEFAULT);
		return;
	}
	for (;;) {
		int closing = 0;

		uv_walk(l->uv, note_closing, &closing);
		if (!closing)
			break;
		uv_run(l->uv, UV_RUN_NOWAIT);
	}
}

void sios__loop_free(sios__loop *l)
{
	if (!l->uv)
		return;
	if (!l->destroyed) {
		/* never ran, or ran without a stop: tear down here */
		l->destroyed = 1;
		pthread_mutex_lock(&l->mu);
		l->post_closed = 1;
		pthread_mutex_unlock(&l->mu);
		if (l->on_destroy)
			l->on_destroy(l->hook_ud);
		if (l->ctx)
			lws_context_destroy(l->ctx);
		close_handles(l);
	}
	run_down(l);
	if (l->ctx) {
		lws_context_destroy(l->ctx);
		l->ctx = NULL;
		run_down(l);
	}
	run_posts(l); /* free anything still queued */
	if (l->own_uv) {
		if (uv_loop_close(l->uv))
			sios__log(SIOS__LOG_WARN, "libuv loop still had open handles at close");
		free(l->uv);
	}
	pthread_mutex_destroy(&l->mu);
	free(l->listeners);
	l->listeners = NULL;
	l->uv = NULL;
}
