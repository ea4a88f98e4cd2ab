/*
 * A Socket.IO server with an asynchronous handshake filter, for
 * tests/interop/filter_test.py:
 *   a handshake with ?hold=1 is deferred (sios_request_defer) and waits,
 *   oldest first, for a decision that another client asks for:
 *   "decide" {accept: bool, message} -> ack: the decision's return code
 *   name (SIOS_ECLOSED when the held client has gone), or "none";
 *   "held" -> ack: how many handshakes wait.
 * On connection every socket is sent "handshake" with
 * sios_socket_handshake(). The x-custom header is kept.
 *
 *   filter_server [--port N]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sios.h>

#define MAXHELD 64
static sios_request *held[MAXHELD];
static int nheld;

static void filter(sios_request *req, void *ud)
{
	const char *hold = sios_request_query(req, "hold");

	(void)ud;
	printf("filter %s hold=%s\n", sios_request_remote_addr(req), hold ? hold : "-");
	fflush(stdout);
	if (hold && !strcmp(hold, "1") && nheld < MAXHELD && sios_request_defer(req) == 0)
		held[nheld++] = req;
}

static void answer(const sios_event *ev, cJSON *v)
{
	sios_ack *ack = sios_event_take_ack(ev);
	cJSON *args = cJSON_CreateArray();

	cJSON_AddItemToArray(args, v);
	if (ack)
		sios_ack_send(ack, args, NULL, 0);
	cJSON_Delete(args);
}

static void on_decide(sios_socket *s, const sios_event *ev, void *ud)
{
	const cJSON *o = sios_event_arg(ev, 0);
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(o, "message");
	sios_request *req;
	int r;

	(void)s, (void)ud;
	if (!nheld) {
		answer(ev, cJSON_CreateString("none"));
		return;
	}
	req = held[0];
	memmove(held, held + 1, (size_t)--nheld * sizeof(held[0]));
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "accept")))
		r = sios_request_accept(req);
	else
		r = sios_request_reject(req, cJSON_IsString(msg) ? msg->valuestring : NULL);
	answer(ev, cJSON_CreateString(sios_err_name(r)));
}

static void on_held(sios_socket *s, const sios_event *ev, void *ud)
{
	(void)s, (void)ud;
	answer(ev, cJSON_CreateNumber(nheld));
}

static void on_connection(sios_socket *s, void *ud)
{
	cJSON *args = cJSON_CreateArray();

	(void)ud;
	cJSON_AddItemReferenceToArray(args, (cJSON *)sios_socket_handshake(s));
	sios_emit(s, "handshake", args, NULL, 0);
	cJSON_Delete(args);
}

int main(int argc, char **argv)
{
	sios_config *cfg;
	sios_server *srv;
	sios_nsp *root;
	int port = 0;

	for (int i = 1; i + 1 < argc; i += 2)
		if (!strcmp(argv[i], "--port"))
			port = atoi(argv[i + 1]);
	if (sios_config_new(&cfg) || sios_config_set_port(cfg, port) ||
	    sios_config_set_host(cfg, "127.0.0.1") || sios_config_keep_header(cfg, "x-custom") ||
	    sios_config_set_allow_request(cfg, filter, NULL))
		return 1;
	if (sios_server_new(cfg, &srv) < 0)
		return 1;
	sios_config_free(cfg);
	sios_of(srv, "/", &root);
	sios_nsp_connection_callback_set(root, on_connection, NULL);
	sios_nsp_on(root, "decide", on_decide, NULL);
	sios_nsp_on(root, "held", on_held, NULL);
	printf("listening on port %d\n", sios_server_port(srv));
	fflush(stdout);
	sios_server_stop_on_signal(srv, SIGTERM);
	sios_server_run(srv);
	/* undecided handles die with the server */
	sios_server_free(srv);
	return 0;
}
