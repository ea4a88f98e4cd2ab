/*
 * thread_post: worker threads hand readings to the server thread with
 * sios_server_post(), the one call that is safe from any thread; the server
 * thread broadcasts each reading to the room "readings".
 *
 *   thread_post [--port N] [--threads T] [--count C]
 *
 * Each worker waits until a client has joined "readings" (the event
 * "subscribe"), then posts C readings {thread, seq, value}; "done" {posted,
 * refused} is broadcast when all are in. After the server stops, one more
 * post is refused with SIOS_ECLOSED, which the program checks.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sios.h>

static const char usage[] =
	"usage: thread_post [--port N] [--threads T] [--count C]\n"
	"T worker threads (default 4) each post C readings (default 1000) to the\n"
	"server thread, which broadcasts them to the room \"readings\"; on 127.0.0.1,\n"
	"port 3000 unless --port (0 picks a free one).\n";

struct reading {
	int thread;
	int seq;
	double value;
};

static sios_server *srv;
static sios_nsp *root;
static int nthreads = 4, count = 1000;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int subscribed, delivered;

/* runs on the server thread */
static void broadcast_reading(sios_server *s, void *ud)
{
	struct reading *r = ud;
	sios_scope *sc;
	cJSON *args = cJSON_CreateArray(), *o = cJSON_CreateObject();

	(void)s;
	cJSON_AddNumberToObject(o, "thread", r->thread);
	cJSON_AddNumberToObject(o, "seq", r->seq);
	cJSON_AddNumberToObject(o, "value", r->value);
	cJSON_AddItemToArray(args, o);
	if (sios_scope_new(root, &sc) == 0) {
		sios_scope_to(sc, "readings");
		sios_scope_emit(sc, "reading", args, NULL, 0);
		sios_scope_free(sc);
	}
	cJSON_Delete(args);
	free(r);
	if (++delivered == nthreads * count) {
		sios_scope *all;
		cJSON *d = cJSON_CreateArray(), *o2 = cJSON_CreateObject();

		cJSON_AddNumberToObject(o2, "posted", delivered);
		cJSON_AddItemToArray(d, o2);
		sios_scope_new(root, &all);
		sios_scope_to(all, "readings");
		sios_scope_emit(all, "done", d, NULL, 0);
		sios_scope_free(all);
		cJSON_Delete(d);
	}
}

static void *worker(void *arg)
{
	int id = (int)(long)arg;

	pthread_mutex_lock(&mu);
	while (!subscribed)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < count; i++) {
		struct reading *r = malloc(sizeof(*r));

		r->thread = id;
		r->seq = i;
		r->value = id * 1000.0 + i * 0.5;
		if (sios_server_post(srv, broadcast_reading, r) < 0) {
			free(r);
			break;
		}
	}
	return NULL;
}

static void on_subscribe(sios_socket *s, const sios_event *ev, void *ud)
{
	sios_ack *ack = sios_event_take_ack(ev);

	(void)ud;
	sios_socket_join(s, "readings");
	sios_ack_send(ack, NULL, NULL, 0);
	pthread_mutex_lock(&mu);
	subscribed = 1;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
}

static void never_runs(sios_server *s, void *ud)
{
	(void)s;
	(void)ud;
	abort();
}

/* A bad command line: one line on stderr, exit status 2. */
_Noreturn static void bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("thread_post: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see --help)\n", stderr);
	exit(2);
}

static const char *value(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc)
		bad_usage("%s needs a value", argv[*i]);
	return argv[++*i];
}

/* the whole of v as a decimal number from min to max */
static int number(const char *opt, const char *v, long min, long max)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (*v < '0' || *v > '9' || *end || errno || n < min || n > max)
		bad_usage("%s: '%s' is not a number from %ld to %ld", opt, v, min, max);
	return (int)n;
}

int main(int argc, char **argv)
{
	sios_config *cfg;
	pthread_t *th;
	int r, port = 3000;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--help")) {
			fputs(usage, stdout);
			return 0;
		} else if (!strcmp(a, "--port"))
			port = number(a, value(argc, argv, &i), 0, 65535);
		else if (!strcmp(a, "--threads"))
			nthreads = number(a, value(argc, argv, &i), 1, 256);
		else if (!strcmp(a, "--count"))
			count = number(a, value(argc, argv, &i), 1, 1000000);
		else
			bad_usage("unknown option %s", a);
	}
	sios_config_new(&cfg);
	sios_config_set_host(cfg, "127.0.0.1");
	sios_config_set_port(cfg, port);
	/* a test client may read slowly: room for every reading */
	sios_config_set_max_queue(cfg, 64u << 20, 1u << 20);
	if ((r = sios_server_new(cfg, &srv)) < 0) {
		fprintf(stderr, "thread_post: %s\n", sios_strerror(r));
		return 1;
	}
	sios_config_free(cfg);
	sios_of(srv, "/", &root);
	sios_nsp_on(root, "subscribe", on_subscribe, NULL);
	sios_server_stop_on_signal(srv, SIGINT);
	sios_server_stop_on_signal(srv, SIGTERM);
	th = calloc((size_t)nthreads, sizeof(*th));
	for (long i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	printf("listening on port %d\n", sios_server_port(srv));
	fflush(stdout);
	sios_server_run(srv);
	/* the server has stopped: posting is refused, and nothing runs */
	r = sios_server_post(srv, never_runs, NULL);
	printf("post after stop: %s\n", sios_err_name(r));
	pthread_mutex_lock(&mu);
	subscribed = 1; /* release workers still waiting */
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	free(th);
	sios_server_free(srv);
	return r == SIOS_ECLOSED ? 0 : 1;
}
