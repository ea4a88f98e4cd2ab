/*
 * uv_embed: sios attached to the application's own libuv loop, which also
 * runs a timer of the application. Every 100 ms the timer broadcasts
 * "tick" {n} to all sockets; after --ticks N it stops the server and its
 * timer, uv_run() returns, and the program frees everything.
 *
 *   uv_embed [--port N] [--ticks N]   (0 ticks: run until SIGINT)
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sios.h>
#include <uv.h>

static sios_server *srv;
static sios_nsp *root;
static uv_timer_t timer;
static uv_signal_t sigint;
static int ticks, max_ticks;

static void shutdown_all(void)
{
	sios_server_stop(srv);
	uv_timer_stop(&timer);
	uv_close((uv_handle_t *)&timer, NULL);
	uv_signal_stop(&sigint);
	uv_close((uv_handle_t *)&sigint, NULL);
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

static void on_sigint(uv_signal_t *s, int signum)
{
	(void)s;
	(void)signum;
	shutdown_all();
}

int main(int argc, char **argv)
{
	uv_loop_t *loop = uv_default_loop();
	sios_config *cfg;
	int r;

	sios_config_new(&cfg);
	sios_config_set_host(cfg, "127.0.0.1");
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			sios_config_set_port(cfg, atoi(argv[i + 1]));
		else if (!strcmp(argv[i], "--ticks"))
			max_ticks = atoi(argv[i + 1]);
	}
	sios_config_set_uv_loop(cfg, loop);
	if ((r = sios_server_new(&srv, cfg)) < 0) {
		fprintf(stderr, "uv_embed: %s\n", sios_strerror(r));
		return 1;
	}
	sios_config_free(cfg);
	sios_of(srv, "/", &root);

	uv_timer_init(loop, &timer);
	uv_timer_start(&timer, on_tick, 100, 100);
	uv_signal_init(loop, &sigint);
	uv_signal_start(&sigint, on_sigint, SIGINT);
	printf("listening on port %d\n", sios_server_port(srv));
	fflush(stdout);

	uv_run(loop, UV_RUN_DEFAULT); /* the application's loop, sios inside it */
	sios_server_free(srv);
	printf("ticks %d\n", ticks);
	return uv_loop_close(loop) == 0 ? 0 : 1;
}
