/* Starts a server the way a user would and reports what sios_server_new()
 * said, then frees it: for the startup tests (bound addresses, busy port,
 * bad host, bad TLS files, a failure on the application's own loop).
 *
 *   start_probe [--host H|--any] [--port N] [--tls CERT KEY] [--uv-loop] [--serve]
 *               [--repeat N] [--pause]
 *
 * Prints "config_set_tls: NAME" when the TLS setter refuses the files,
 * "new: NAME" for any error of sios_server_new(), or "listening on port N"
 * and, with --serve, runs until SIGTERM. Exits 0 when everything it
 * created was freed. --repeat N first makes N more attempts that must fail
 * and prints "fds before A after B" (open descriptors around them).
 * --pause prints "configured" and reads a line from stdin before
 * sios_server_new(), so a test can change the TLS files in between. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <uv.h>

#include <sios.h>

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *cert = NULL, *key = NULL;
	int port = 0, serve = 0, own_loop = 0, repeat = 0, pause = 0, r;
	sios_config *cfg;
	sios_server *srv = NULL;
	uv_loop_t uv;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--host") && i + 1 < argc)
			host = argv[++i];
		else if (!strcmp(argv[i], "--any"))
			host = NULL;
		else if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--tls") && i + 2 < argc) {
			cert = argv[++i];
			key = argv[++i];
		} else if (!strcmp(argv[i], "--uv-loop"))
			own_loop = 1;
		else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
			repeat = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--pause"))
			pause = 1;
		else if (!strcmp(argv[i], "--serve"))
			serve = 1;
		else {
			fprintf(stderr, "start_probe: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	if (sios_config_new(&cfg) || sios_config_set_port(cfg, port) ||
	    sios_config_set_host(cfg, host))
		return 1;
	if (own_loop) {
		uv_loop_init(&uv);
		sios_config_set_uv_loop(cfg, &uv);
	}
	if (cert && (r = sios_config_set_tls(cfg, cert, key)) < 0) {
		printf("config_set_tls: %s\n", sios_err_name(r));
		fflush(stdout);
	}
	if (pause) {
		char line[16];

		printf("configured\n");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return 1;
	}
	if (repeat) {
		int before = count_fds();

		sios_log_callback_set(SIOS_LOG_ERR, NULL, NULL);
		for (int i = 0; i < repeat; i++) {
			if (sios_server_new(cfg, &srv) == 0) {
				printf("attempt %d succeeded\n", i);
				return 1;
			}
			sios_server_free(srv);
		}
		printf("fds before %d after %d\n", before, count_fds());
	}
	r = sios_server_new(cfg, &srv);
	sios_config_free(cfg);
	if (r < 0) {
		printf("new: %s%s\n", sios_err_name(r), srv ? " (and a server handle)" : "");
	} else {
		printf("listening on port %d\n", sios_server_port(srv));
		fflush(stdout);
		if (serve) {
			sios_server_stop_on_signal(srv, SIGTERM);
			if (own_loop)
				uv_run(&uv, UV_RUN_DEFAULT);
			else
				sios_server_run(srv);
		}
	}
	sios_server_free(srv);
	if (own_loop && uv_loop_close(&uv)) {
		printf("the application's loop still has handles\n");
		return 1;
	}
	printf("freed\n");
	return 0;
}
