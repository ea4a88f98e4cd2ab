/*
 * A Socket.IO server for tests/interop/hostile_test.py: the handlers an
 * attacker reaches in a real application, with the per-client limits
 * settable from the command line.
 *   "echo" ...args      acknowledged with its arguments, binary included
 *   "join" room         joins; ack: the error name (SIOS_OK, SIOS_ETOOBIG)
 *   "ask" n             the server emits "q" with an ack n times; ack: how
 *                       many emits were accepted, and the first error name
 *   "say" room, text    broadcast "said" text to the room
 *
 *   limits_server [--port N] [--max-rooms N] [--max-room-name BYTES]
 *       [--max-acks N] [--max-attachment-bytes BYTES]
 *       [--attachment-timeout MS] [--request-timeout MS]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sios.h>

static void ack_with(const sios_event *ev, cJSON *args)
{
	sios_ack *ack = sios_event_take_ack(ev);

	if (ack)
		sios_ack_send(ack, args, NULL, 0);
	cJSON_Delete(args);
}

static void on_echo(sios_socket *s, const sios_event *ev, void *ud)
{
	sios_ack *ack = sios_event_take_ack(ev);

	(void)s, (void)ud;
	if (ack)
		sios_ack_send(ack, sios_event_args(ev), sios_event_binaries(ev),
			      sios_event_binary_count(ev));
}

static void on_join(sios_socket *s, const sios_event *ev, void *ud)
{
	const cJSON *room = sios_event_arg(ev, 0);
	cJSON *a = cJSON_CreateArray();

	(void)ud;
	cJSON_AddItemToArray(a, cJSON_CreateString(sios_err_name(
		cJSON_IsString(room) ? sios_socket_join(s, room->valuestring) : SIOS_EINVAL)));
	ack_with(ev, a);
}

static void ignore_answer(sios_socket *s, int status, const sios_event *resp, void *ud)
{
	(void)s, (void)status, (void)resp, (void)ud;
}

static void on_ask(sios_socket *s, const sios_event *ev, void *ud)
{
	const cJSON *n = sios_event_arg(ev, 0);
	int ok = 0, first_err = 0;
	cJSON *a = cJSON_CreateArray();

	(void)ud;
	for (int i = 0; cJSON_IsNumber(n) && i < n->valueint; i++) {
		int r = sios_emit_with_ack(s, "q", NULL, NULL, 0, 0, ignore_answer, NULL);

		if (r == 0)
			ok++;
		else if (!first_err)
			first_err = r;
	}
	cJSON_AddItemToArray(a, cJSON_CreateNumber(ok));
	cJSON_AddItemToArray(a, cJSON_CreateString(sios_err_name(first_err)));
	ack_with(ev, a);
}

static void on_say(sios_socket *s, const sios_event *ev, void *ud)
{
	const cJSON *room = sios_event_arg(ev, 0);
	sios_scope *sc;
	cJSON *a;

	(void)ud;
	if (!cJSON_IsString(room) || sios_scope_new(sios_socket_nsp(s), &sc))
		return;
	sios_scope_to(sc, room->valuestring);
	a = cJSON_CreateArray();
	cJSON_AddItemReferenceToArray(a, (cJSON *)sios_event_arg(ev, 1));
	sios_scope_emit(sc, "said", a, NULL, 0);
	cJSON_Delete(a);
	sios_scope_free(sc);
}

int main(int argc, char **argv)
{
	sios_config *cfg;
	sios_server *srv;
	sios_nsp *root;
	int r = 0;

	if (sios_config_new(&cfg) || sios_config_set_host(cfg, "127.0.0.1"))
		return 1;
	for (int i = 1; i + 1 < argc && !r; i += 2) {
		const char *o = argv[i];
		long v = strtol(argv[i + 1], NULL, 10);

		if (!strcmp(o, "--port"))
			r = sios_config_set_port(cfg, (int)v);
		else if (!strcmp(o, "--max-rooms"))
			r = sios_config_set_max_socket_rooms(cfg, (unsigned)v);
		else if (!strcmp(o, "--max-room-name"))
			r = sios_config_set_max_room_name(cfg, (size_t)v);
		else if (!strcmp(o, "--max-acks"))
			r = sios_config_set_max_pending_acks(cfg, (unsigned)v);
		else if (!strcmp(o, "--max-attachment-bytes"))
			r = sios_config_set_max_attachment_bytes(cfg, (size_t)v);
		else if (!strcmp(o, "--attachment-timeout"))
			r = sios_config_set_attachment_timeout(cfg, (unsigned)v);
		else if (!strcmp(o, "--request-timeout"))
			r = sios_config_set_request_timeout(cfg, (unsigned)v);
		else
			r = SIOS_EINVAL;
	}
	if (r || sios_server_new(cfg, &srv) < 0) {
		fprintf(stderr, "limits_server: bad arguments or cannot start\n");
		return 1;
	}
	sios_config_free(cfg);
	sios_of(srv, "/", &root);
	sios_nsp_on(root, "echo", on_echo, NULL);
	sios_nsp_on(root, "join", on_join, NULL);
	sios_nsp_on(root, "ask", on_ask, NULL);
	sios_nsp_on(root, "say", on_say, NULL);
	printf("listening on port %d\n", sios_server_port(srv));
	fflush(stdout);
	sios_server_stop_on_signal(srv, SIGTERM);
	sios_server_run(srv);
	sios_server_free(srv);
	return 0;
}
