/*
 * A Socket.IO server exercising API edge cases for tests/interop/api.test.js:
 *   reserved      ack: the error names sios_emit() gives for reserved names
 *   who           per-socket handler (answers "socket") over the namespace's
 *   any-count     ack: how many events the socket's and the namespace's
 *                 catch-all handlers have seen
 *   hold          take the ack and keep it
 *   release       answer the held ack with this event's arguments
 *   lookup        ack: whether sios_nsp_socket() finds the given id
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sios.h>

static sios_ack *held;
static int nsp_any_count;

static cJSON *strings(int n, const char **v)
{
	cJSON *a = cJSON_CreateArray();

	for (int i = 0; i < n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(v[i]));
	return a;
}

static void answer_strings(const sios_event *ev, int n, const char **v)
{
	sios_ack *ack = sios_event_take_ack(ev);
	cJSON *a = strings(n, v);

	if (ack)
		sios_ack_send(ack, a, NULL, 0);
	cJSON_Delete(a);
}

static void on_reserved(sios_socket *s, const sios_event *ev, void *ud)
{
	static const char *names[] = {"connect", "connect_error", "disconnect", "disconnecting",
				      "newListener", "removeListener", ""};
	const char *res[8];
	int n = 0;

	(void)ud;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		res[n++] = sios_err_name(sios_emit(s, names[i], NULL, NULL, 0));
	res[n++] = sios_err_name(sios_emit_with_ack(s, "x", NULL, NULL, 0, 0, NULL, NULL));
	answer_strings(ev, n, res);
}

static void who_nsp(sios_socket *s, const sios_event *ev, void *ud)
{
	const char *v = "namespace";

	(void)s;
	(void)ud;
	answer_strings(ev, 1, &v);
}

static void who_socket(sios_socket *s, const sios_event *ev, void *ud)
{
	const char *v = "socket";

	(void)s;
	(void)ud;
	answer_strings(ev, 1, &v);
}

static void sock_any(sios_socket *s, const sios_event *ev, void *ud)
{
	int *count = sios_socket_userdata(s);

	(void)ev;
	(void)ud;
	(*count)++;
}

static void nsp_any(sios_socket *s, const sios_event *ev, void *ud)
{
	(void)s;
	(void)ev;
	(void)ud;
	nsp_any_count++;
}

static void on_any_count(sios_socket *s, const sios_event *ev, void *ud)
{
	sios_ack *ack = sios_event_take_ack(ev);
	cJSON *a = cJSON_CreateArray();

	(void)ud;
	cJSON_AddItemToArray(a, cJSON_CreateNumber(*(int *)sios_socket_userdata(s)));
	cJSON_AddItemToArray(a, cJSON_CreateNumber(nsp_any_count));
	sios_ack_send(ack, a, NULL, 0);
	cJSON_Delete(a);
}

static void on_hold(sios_socket *s, const sios_event *ev, void *ud)
{
	(void)s;
	(void)ud;
	sios_ack_drop(held);
	held = sios_event_take_ack(ev);
	/* a second take returns NULL */
	if (sios_event_take_ack(ev))
		abort();
}

static void on_release(sios_socket *s, const sios_event *ev, void *ud)
{
	const char *r;

	(void)s;
	(void)ud;
	r = sios_err_name(held ? sios_ack_send(held, sios_event_args(ev), NULL, 0) : SIOS_ENOENT);
	held = NULL;
	answer_strings(ev, 1, &r);
}

static void on_lookup(sios_socket *s, const sios_event *ev, void *ud)
{
	const cJSON *id = sios_event_arg(ev, 0);
	const char *r = cJSON_IsString(id) && sios_nsp_socket(sios_socket_nsp(s), id->valuestring)
				? "found"
				: "missing";

	(void)ud;
	answer_strings(ev, 1, &r);
}

static void on_connection(sios_socket *s, void *ud)
{
	int *count = calloc(1, sizeof(int));

	(void)ud;
	sios_socket_set_userdata(s, count);
	sios_socket_on_any(s, sock_any, NULL);
	sios_socket_on(s, "who", who_socket, NULL);
	if (sios_socket_on(s, "", who_socket, NULL) != SIOS_EINVAL)
		abort();
	printf("connect %s\n", sios_socket_id(s));
	fflush(stdout);
}

static void on_disconnect(sios_socket *s, int reason, void *ud)
{
	(void)ud;
	free(sios_socket_userdata(s));
	printf("disconnect %s %s\n", sios_socket_id(s), sios_reason_str(reason));
	fflush(stdout);
}

/* log lines go to stdout with their level, for the test to see */
static void log_line(int level, const char *line, void *ud)
{
	(void)ud;
	printf("LOG %d %s\n", level, line);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	sios_config *cfg;

	sios_log_callback_set(SIOS_LOG_INFO, log_line, NULL);
	sios_server *srv;
	sios_nsp *nsp, *dyn;

	sios_config_new(&cfg);
	sios_config_set_host(cfg, "127.0.0.1");
	if (sios_config_set_max_client_namespaces(cfg, 0) != SIOS_EINVAL ||
	    sios_config_set_max_client_namespaces(cfg, 3))
		return 1;
	if (argc == 3 && !strcmp(argv[1], "--port"))
		sios_config_set_port(cfg, atoi(argv[2]));
	if (sios_server_new(cfg, &srv) < 0)
		return 1;
	sios_config_free(cfg);
	if (sios_of(srv, "bad", &nsp) != SIOS_EINVAL || sios_of(srv, "/", &nsp))
		return 1;
	sios_nsp_connection_callback_set(nsp, on_connection, NULL);
	sios_nsp_disconnect_callback_set(nsp, on_disconnect, NULL);
	sios_nsp_on_any(nsp, nsp_any, NULL);
	sios_nsp_on(nsp, "reserved", on_reserved, NULL);
	sios_nsp_on(nsp, "who", who_nsp, NULL);
	sios_nsp_on(nsp, "any-count", on_any_count, NULL);
	sios_nsp_on(nsp, "hold", on_hold, NULL);
	sios_nsp_on(nsp, "release", on_release, NULL);
	sios_nsp_on(nsp, "lookup", on_lookup, NULL);
	/* /n0, /n1, ...: for the per-client namespace limit (3) */
	if (sios_of_regex(srv, "^/n[0-9]+$", &dyn))
		return 1;
	sios_nsp_on(dyn, "who", who_nsp, NULL);
	sios_server_stop_on_signal(srv, SIGTERM);
	printf("listening on port %d\n", sios_server_port(srv));
	fflush(stdout);
	sios_server_run(srv);
	sios_ack_drop(held);
	sios_server_free(srv);
	return 0;
}
