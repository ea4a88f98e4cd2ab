/*
 * uv_embed: sios attached to the application's own libuv loop, which also
 * runs a timer of the application. Every 100 ms the timer broadcasts
 * "tick" {n} to all sockets; after --ticks N it stops the server and its
 * timer, uv_run() returns, and the program frees everything.
 *
 *   uv_embed [--port N] [--ticks N]   (0 ticks: run until SIGINT or SIGTERM)
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sios.h>
#include <uv.h>

static const char usage[] =
	"usage: uv_embed [--port N] [--ticks N]\n"
	"sios on the program's own libuv loop beside a 100 ms timer that broadcasts\n"
	"\"tick\"; stops after N ticks (0, the default: at SIGINT or SIGTERM). On\n"
	"127.0.0.1, port 3000 unless --port (0 picks a free one).\n";

static sios_server *srv;
static sios_nsp *root;
static uv_timer_t timer;
static uv_signal_t sigint, sigterm;
static int ticks, max_ticks;

static void shutdown_all(void)
{
	sios_server_stop(srv);
	uv_timer_stop(&timer);
	uv_close((uv_handle_t *)&timer, NULL);
	uv_signal_stop(&sigint);
	uv_close((uv_handle_t *)&sigint, NULL);
	uv_signal_stop(&sigterm);
	uv_close((uv_handle_t *)&sigterm, NULL);
}

static void on_tick(uv_timer_t *t)
{
	sios_scope *all;
	cJSON *args = cJSON_CreateArray(), *o = cJSON_CreateObject();

	(void)t;
	cJSON_AddNumberToObject(o, "n", ++ticks);
	cJSON_AddItemToArray(args, o);
	if (sios_scope_new(root, &all) == 0) {
		sios_scope_emit(all, "tick", args, NULL, 0);
		sios_scope_free(all);
	}
	cJSON_Delete(args);
	if (max_ticks && ticks >= max_ticks)
		shutdown_all();
}

static void on_signal(uv_signal_t *s, int signum)
{
	(void)s;
	(void)signum;
	shutdown_all();
}

/* A bad command line: one line on stderr, exit status 2. */
_Noreturn static void bad_usage(const char *fmt, ...)
{
	va_list ap;

	fputs("uv_embed: ", stderr);
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

/* the whole of v as a decimal number from 0 to max */
static int number(const char *opt, const char *v, long max)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(v, &end, 10);
	if (*v < '0' || *v > '9' || *end || errno || n > max)
		bad_usage("%s: '%s' is not a number from 0 to %ld", opt, v, max);
	return (int)n;
}

int main(int argc, char **argv)
{
	uv_loop_t *loop;
	sios_config *cfg;
	int r, port = 3000;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--help")) {
			fputs(usage, stdout);
			return 0;
		} else if (!strcmp(a, "--port"))
			port = number(a, value(argc, argv, &i), 65535);
		else if (!strcmp(a, "--ticks"))
			max_ticks = number(a, value(argc, argv, &i), INT_MAX);
		else
			bad_usage("unknown option %s", a);
	}
	loop = uv_default_loop();
	sios_config_new(&cfg);
	sios_config_set_host(cfg, "127.0.0.1");
	sios_config_set_port(cfg, port);
	sios_config_set_uv_loop(cfg, loop);
	if ((r = sios_server_new(cfg, &srv)) < 0) {
		fprintf(stderr, "uv_embed: %s\n", sios_strerror(r));
		return 1;
	}
	sios_config_free(cfg);
	sios_of(srv, "/", &root);

	uv_timer_init(loop, &timer);
	uv_timer_start(&timer, on_tick, 100, 100);
	uv_signal_init(loop, &sigint);
	uv_signal_start(&sigint, on_signal, SIGINT);
	uv_signal_init(loop, &sigterm);
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	printf("listening on port %d\n", sios_server_port(srv));
	fflush(stdout);

	uv_run(loop, UV_RUN_DEFAULT); /* the application's loop, sios inside it */
	sios_server_free(srv);
	printf("ticks %d\n", ticks);
	return uv_loop_close(loop) == 0 ? 0 : 1;
}
