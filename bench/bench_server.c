/*
 * bench_server: the bench contract of ../shared/BENCH.md on sios.
 * On connection a socket joins "room"; "bcast" (data) emits "msg" (data)
 * to "room", sender included; "echo" (data) with an ack is answered with
 * the same data.   bench_server [--port N] [--redis URL] [--presence 1]
 * [--recovery MS]
 * --redis: a cluster through Redis (redis_fanout); --presence 1: users from
 * auth.userId are tracked, and "get-presence" answers their states.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sios.h>

static sios_scope *room;

static void on_connection(sios_socket *s, void *ud)
{
	(void)ud;
	sios_socket_join(s, "room");
}

static void on_bcast(sios_socket *s, const sios_event *ev, void *ud)
{
	(void)s;
	(void)ud;
	sios_scope_emit(room, "msg", sios_event_args(ev), sios_event_binaries(ev),
			sios_event_binary_count(ev));
}

static void on_echo(sios_socket *s, const sios_event *ev, void *ud)
{
	sios_ack *ack = sios_event_take_ack(ev);

	(void)s;
	(void)ud;
	if (ack)
		sios_ack_send(ack, sios_event_args(ev), sios_event_binaries(ev),
			      sios_event_binary_count(ev));
}

static sios_presence *presence;

static void queried(int status, const cJSON *result, void *ud)
{
	sios_ack *ack = ud;
	cJSON *args = cJSON_CreateArray();

	/* the result is lent for the call: referenced, not copied */
	if (status)
		cJSON_AddItemToArray(args, cJSON_CreateNull());
	else
		cJSON_AddItemReferenceToArray(args, (cJSON *)result);
	sios_ack_send(ack, args, NULL, 0);
	cJSON_Delete(args);
}

/* "get-presence" ([user ids]) with an ack: their states */
static void on_get_presence(sios_socket *s, const sios_event *ev, void *ud)
{
	const cJSON *list = sios_event_arg(ev, 0), *it;
	sios_ack *ack = sios_event_take_ack(ev);
	const char **ids = malloc(sizeof(*ids) * (size_t)(cJSON_GetArraySize(list) + 1));
	size_t n = 0;

	(void)s;
	(void)ud;
	cJSON_ArrayForEach(it, list)
		if (cJSON_IsString(it))
			ids[n++] = it->valuestring;
	if (!ack || !ids || sios_presence_query(presence, ids, n, queried, ack) < 0)
		sios_ack_drop(ack);
	free(ids);
}

int main(int argc, char **argv)
{
	int with_presence = 0;
	sios_config *cfg;
	sios_server *srv;
	sios_nsp *nsp;

	sios_config_new(&cfg);
	sios_config_set_host(cfg, "127.0.0.1");
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			sios_config_set_port(cfg, atoi(argv[i + 1]));
		else if (!strcmp(argv[i], "--redis") && sios_config_set_redis(cfg, argv[i + 1]) < 0)
			return 2; /* built without Redis, or a bad URL */
		else if (!strcmp(argv[i], "--presence"))
			with_presence = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--recovery"))
			sios_config_set_recovery(cfg, (unsigned)atoi(argv[i + 1]), 0);
	}
	if (sios_server_new(cfg, &srv) < 0)
		return 1;
	sios_config_free(cfg);
	sios_of(srv, "/", &nsp);
	sios_scope_new(nsp, &room);
	sios_scope_to(room, "room");
	sios_nsp_connection_callback_set(nsp, on_connection, NULL);
	sios_nsp_on(nsp, "bcast", on_bcast, NULL);
	sios_nsp_on(nsp, "echo", on_echo, NULL);
	if (with_presence) {
		/* auth.userId; online/offline kept (no friends to tell) */
		if (sios_presence_new(nsp, &presence) < 0 ||
		    sios_presence_set_auth_key(presence, "userId") < 0)
			return 1;
		sios_nsp_on(nsp, "get-presence", on_get_presence, NULL);
	}
	sios_server_stop_on_signal(srv, SIGINT);
	sios_server_stop_on_signal(srv, SIGTERM);
	printf("listening on port %d\n", sios_server_port(srv));
	fflush(stdout);
	sios_server_run(srv);
	sios_scope_free(room);
	sios_server_free(srv);
	return 0;
}
