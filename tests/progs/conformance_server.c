/*
 * The server the Socket.IO protocol's own conformance suite expects
 * (docs/socket.io-protocol/v5-current.md, "Test suite"), on the public API:
 * pingInterval 300, pingTimeout 200, maxPayload 1000000, connectTimeout
 * 1000, CORS for every origin.
 *   "/"       on connection emits "auth" with the handshake's auth;
 *             "message" ...args        -> "message-back" ...args
 *             "message-with-ack" ...args -> acknowledged with ...args
 *   "/custom" on connection emits "auth" with the handshake's auth.
 * (The Engine.IO suite runs against examples/engine_echo.)
 *
 *   conformance_server [--port N] [--host H]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sios.h>

static void emit_auth(sios_socket *s, void *ud)
{
	cJSON *args = cJSON_CreateArray();

	(void)ud;
	cJSON_AddItemReferenceToArray(args, (cJSON *)sios_socket_auth(s));
	sios_emit(s, "auth", args, NULL, 0);
	cJSON_Delete(args);
}

static void on_message(sios_socket *s, const sios_event *ev, void *ud)
{
	(void)ud;
	sios_emit(s, "message-back", sios_event_args(ev), sios_event_binaries(ev),
		  sios_event_binary_count(ev));
}

static void on_message_with_ack(sios_socket *s, const sios_event *ev, void *ud)
{
	sios_ack *ack = sios_event_take_ack(ev);

	(void)s, (void)ud;
	if (ack)
		sios_ack_send(ack, sios_event_args(ev), sios_event_binaries(ev),
			      sios_event_binary_count(ev));
}

int main(int argc, char **argv)
{
	const char *host = "127.0.0.1";
	int port = 3000;
	sios_config *cfg;
	sios_server *srv;
	sios_nsp *root, *custom;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--host") && i + 1 < argc)
			host = argv[++i];
		else {
			fprintf(stderr, "conformance_server: unknown argument %s\n", argv[i]);
			return 2;
		}
	}
	if (sios_config_new(&cfg) || sios_config_set_port(cfg, port) ||
	    sios_config_set_host(cfg, host) || sios_config_set_ping_interval(cfg, 300) ||
	    sios_config_set_ping_timeout(cfg, 200) || sios_config_set_max_payload(cfg, 1000000) ||
	    sios_config_set_connect_timeout(cfg, 1000) || sios_config_add_cors_origin(cfg, "*"))
		return 1;
	if (sios_server_new(cfg, &srv) < 0)
		return 1;
	sios_config_free(cfg);
	sios_of(srv, "/", &root);
	sios_nsp_connection_callback_set(root, emit_auth, NULL);
	sios_nsp_on(root, "message", on_message, NULL);
	sios_nsp_on(root, "message-with-ack", on_message_with_ack, NULL);
	sios_of(srv, "/custom", &custom);
	sios_nsp_connection_callback_set(custom, emit_auth, NULL);
	printf("listening on port %d\n", sios_server_port(srv));
	fflush(stdout);
	sios_server_stop_on_signal(srv, SIGINT);
	sios_server_stop_on_signal(srv, SIGTERM);
	sios_server_run(srv);
	sios_server_free(srv);
	return 0;
}
