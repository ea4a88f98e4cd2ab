/*
 * engine_echo: a raw Engine.IO endpoint at /engine.io/ that sends every
 * message back to its sender, text as text and binary as binary.
 *
 *   engine_echo [--port N] [--ping-interval MS] [--ping-timeout MS]
 *               [--max-payload BYTES] [--max-connections N] [--cors ORIGIN]
 *               [--transports polling|websocket|both]
 *
 * The text message "bye" makes the server close that connection instead.
 * Handshakes with ?deny=1 or "X-Deny: yes" are refused (403).
 * It prints "listening on port N" once it accepts connections, and
 * "open <sid> tag=<?tag> ua=<user-agent> addr=<peer> transport=<t>" and
 * "close <sid> <reason>" for every connection.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sios.h>

static void on_open(sios_eio_conn *c, void *ud)
{
	const char *tag = sios_eio_conn_query(c, "tag"), *ua = sios_eio_conn_header(c, "user-agent");

	(void)ud;
	printf("open %s tag=%s ua=%s addr=%s transport=%s\n", sios_eio_conn_id(c), tag ? tag : "-",
	       ua ? ua : "-", sios_eio_conn_remote_addr(c),
	       sios_eio_conn_transport(c) == SIOS_TRANSPORT_WEBSOCKET ? "websocket" : "polling");
	fflush(stdout);
}

static void on_message(sios_eio_conn *c, const void *data, size_t len, int binary, void *ud)
{
	(void)ud;
	if (!binary && len == 3 && !memcmp(data, "bye", 3))
		sios_eio_close(c);
	else if (binary)
		sios_eio_send_binary(c, data, len);
	else
		sios_eio_send_text(c, data, len);
}

static void on_close(sios_eio_conn *c, int reason, void *ud)
{
	(void)ud;
	printf("close %s %s\n", sios_eio_conn_id(c), sios_reason_str(reason));
	fflush(stdout);
}

/* refuses handshakes with ?deny=1 or an "X-Deny: yes" header, to show the
 * request filter */
static void allow_request(sios_request *req, void *ud)
{
	const char *deny = sios_request_query(req, "deny");
	const char *hdr = sios_request_header(req, "x-deny");

	(void)ud;
	if (deny && !strcmp(deny, "1"))
		sios_request_reject(req, "denied by the application");
	else if (hdr && !strcmp(hdr, "yes"))
		sios_request_reject(req, NULL);
}

static int check(int r, const char *what)
{
	if (r < 0) {
		fprintf(stderr, "engine_echo: %s: %s\n", what, sios_strerror(r));
		exit(1);
	}
	return r;
}

int main(int argc, char **argv)
{
	sios_config *cfg;
	sios_server *srv;
	sios_eio *ep;

	check(sios_config_new(&cfg), "config");
	check(sios_config_set_host(cfg, "127.0.0.1"), "host");
	check(sios_config_set_allow_request(cfg, allow_request, NULL), "allow_request");
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!v) {
			fprintf(stderr, "engine_echo: %s needs a value\n", a);
			return 2;
		}
		i++;
		if (!strcmp(a, "--port"))
			check(sios_config_set_port(cfg, atoi(v)), a);
		else if (!strcmp(a, "--ping-interval"))
			check(sios_config_set_ping_interval(cfg, (unsigned)atoi(v)), a);
		else if (!strcmp(a, "--ping-timeout"))
			check(sios_config_set_ping_timeout(cfg, (unsigned)atoi(v)), a);
		else if (!strcmp(a, "--max-payload"))
			check(sios_config_set_max_payload(cfg, (size_t)atol(v)), a);
		else if (!strcmp(a, "--max-connections"))
			check(sios_config_set_max_connections(cfg, (unsigned)atoi(v)), a);
		else if (!strcmp(a, "--cors"))
			check(sios_config_add_cors_origin(cfg, v), a);
		else if (!strcmp(a, "--transports"))
			check(sios_config_set_transports(cfg, !strcmp(v, "polling") ? SIOS_TRANSPORT_POLLING
							 : !strcmp(v, "websocket") ? SIOS_TRANSPORT_WEBSOCKET
							 : SIOS_TRANSPORT_POLLING | SIOS_TRANSPORT_WEBSOCKET), a);
		else {
			fprintf(stderr, "engine_echo: unknown option %s\n", a);
			return 2;
		}
	}
	check(sios_server_new(&srv, cfg), "server");
	sios_config_free(cfg);
	check(sios_eio_mount(srv, "/engine.io/", &ep), "mount");
	sios_eio_open_callback_set(ep, on_open, NULL);
	sios_eio_message_callback_set(ep, on_message, NULL);
	sios_eio_close_callback_set(ep, on_close, NULL);
	sios_server_stop_on_signal(srv, SIGINT);
	sios_server_stop_on_signal(srv, SIGTERM);
	printf("listening on port %d\n", sios_server_port(srv));
	fflush(stdout);
	check(sios_server_run(srv), "run");
	sios_server_free(srv);
	printf("stopped\n");
	return 0;
}
