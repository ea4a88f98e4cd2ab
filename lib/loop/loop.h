/* loop: the lws context on a libuv loop, the single service thread, the
 * timer tick and the cross-thread post queue. Knows nothing about protocols. */
#ifndef SIOS_LOOP_H
#define SIOS_LOOP_H

#include <pthread.h>
#include <uv.h>
#include <libwebsockets.h>

#include "util/util.h"

typedef void (*sios__post_fn)(void *a, void *b);
typedef void (*sios__loop_hook)(void *ud);

struct sios__post;
struct sios__loop;

/* a listening socket of ours, accepted from on the libuv loop */
typedef struct sios__listener {
	int fd;
	int polling; /* poll handle initialised */
	uv_poll_t poll;
	struct sios__loop *loop;
	char text[64]; /* "127.0.0.1:3000", "[::1]:3000" for logs */
} sios__listener;

typedef struct sios__loop {
	uv_loop_t *uv;
	pthread_t owner; /* the loop thread: the creator, then sios_server_run()'s */
	int own_uv;
	struct lws_context *ctx;
	struct lws_vhost *vh;
	int port;
	int tls;

	sios__listener *listeners;
	size_t nlisteners;
	int listen_closed;
	uv_timer_t accept_pause; /* out of descriptors: accept again later */
	int accept_pause_on;     /* initialised */
	uint64_t last_accept_log;
	/* whether to take one more connection (0: it is closed at once);
	 * pending: connections accepted whose first head is still coming */
	int (*accept_filter)(void *ud, size_t pending);
	struct sios__preread *prereads; /* preread.c */
	size_t npreread;
	size_t max_head;          /* bytes of a request head, beyond: 431 */
	unsigned head_timeout_ms; /* to receive the first head, beyond: 408 */

	sios__wheel wheel;
	uv_timer_t tick;
	int tick_on;

	uv_async_t async;
	pthread_mutex_t mu;
	struct sios__post *head, *tail;
	int post_closed; /* under mu */

	uv_timer_t stop_timer;
	uv_timer_t trim_timer; /* gives memory back after large work */
	sios__loop_hook on_stop; /* runs on the loop when a stop begins */
	sios__loop_hook on_destroy; /* runs once, as the loop is torn down */
	int (*is_drained)(void *ud);
	void *hook_ud;
	uint64_t stop_deadline;
	int stopping, destroyed;

	uv_signal_t sigs[4];
	int nsigs;
	unsigned handles_open;

	/* a flush once per loop iteration, after the I/O callbacks */
	uv_check_t flush_check;
	uv_idle_t flush_idle;
	int flush_wanted;
	void (*flush_fn)(void *ud);
	void *flush_ud;
} sios__loop;

typedef struct sios__loop_opts {
	int port;
	const char *host;
	const struct lws_protocols *protocols;
	void *user; /* lws context user pointer */
	size_t max_http_header_data;
	void *foreign_uv;     /* the application's uv_loop_t, or NULL */
	const char *tls_cert; /* PEM files for https/wss, or NULL */
	const char *tls_key;
	int reuseport; /* SO_REUSEPORT: several processes share the port */
	unsigned request_timeout_ms; /* a request head must arrive within it */
} sios__loop_opts;

/* Binds, checks the TLS files, creates the lws context and starts
 * accepting. On failure nothing is left allocated: SIOS_EADDR (cannot
 * listen), SIOS_ETLS (certificate or key unusable), SIOS_ENOMEM, SIOS_EIO. */
int sios__loop_init(sios__loop *l, const sios__loop_opts *o);
/* Whether the caller is off the loop thread: every public call but
 * sios_server_post() must be made on it. Checked in builds with
 * -DSIOS_THREAD_CHECKS (the sanitizer build of make check). */
#ifdef SIOS_THREAD_CHECKS
#define SIOS__OFF_LOOP(l) (!pthread_equal((l)->owner, pthread_self()))
#else
#define SIOS__OFF_LOOP(l) 0
#endif
int sios__loop_run(sios__loop *l);
/* Begin the stop: on_stop runs, then the loop waits until is_drained() or
 * grace_ms have passed, destroys the lws context and lets run() return. */
void sios__loop_stop(sios__loop *l, unsigned grace_ms);
void sios__loop_free(sios__loop *l);
int sios__loop_post(sios__loop *l, sios__post_fn fn, void *a, void *b);
int sios__loop_stop_on_signal(sios__loop *l, int signum);

/* listen.c */
int sios__listen_open(sios__loop *l, const sios__loop_opts *o);
int sios__listen_start(sios__loop *l);
/* Stops accepting and closes the listening sockets (at a stop). */
void sios__listen_close(sios__loop *l);
/* The bound addresses as text; returns how many there are. */
size_t sios__listen_addrs(const sios__loop *l, const char **out, size_t max);
/* preread.c: read and check the first request head of a plain-HTTP
 * connection, then hand it to lws */
void sios__preread_start(sios__loop *l, int fd);
void sios__preread_close_all(sios__loop *l);
/* tls.c: whether cert and key are readable PEM and belong together;
 * SIOS_ETLS with a log line saying why not. */
int sios__tls_check(const char *cert, const char *key);

void sios__loop_timer_add(sios__loop *l, sios__timer *t, uint64_t delay_ms);
/* The same at an absolute time (sios__now_ms() clock). */
void sios__loop_timer_at(sios__loop *l, sios__timer *t, uint64_t when_ms);
/* Ask for flush_fn to run at the end of this loop iteration. */
void sios__loop_request_flush(sios__loop *l);
static inline void sios__loop_timer_cancel(sios__loop *l, sios__timer *t)
{
	sios__timer_cancel(&l->wheel, t);
}

#endif
