/*
 * Backpressure test server (tests/interop/backpressure_test.py).
 *   flood_server [--port N] --policy disconnect|drop
 * Queue limit 256 KiB, low-water 32 KiB. Every socket joins "flood".
 *   flood {n,size,volatile}  broadcast n messages ["f", seq, "xxx..."];
 *                            acknowledged with the counters
 *   stats                    acknowledged with the counters
 * Prints "drain <sid>" (and emits "drained" to it) when a socket's queue
 * drains, and "disconnect <sid> <reason>".
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sios.h>

static sios_server *srv;
static sios_nsp *root;
static long seq;
static size_t max_queued;

static void measure(sios_socket *s, void *ud)
{
	size_t q = sios_socket_queued_bytes(s);

	(void)ud;
	if (q > max_queued)
		max_queued = q;
}

static cJSON *counters(void)
{
	sios_stats st;
	cJSON *o = cJSON_CreateObject();

	sios_server_stats(srv, &st, sizeof(st));
	cJSON_AddNumberToObject(o, "drops", (double)st.drops);
	cJSON_AddNumberToObject(o, "volatileDrops", (double)st.volatile_drops);
	cJSON_AddNumberToObject(o, "slowDisconnects", (double)st.slow_consumer_disconnects);
	cJSON_AddNumberToObject(o, "maxQueued", (double)max_queued);
	cJSON_AddNumberToObject(o, "seq", (double)seq);
	return o;
}

static void reply(const sios_event *ev, cJSON *o)
{
	sios_ack *ack = sios_event_take_ack(ev);
	cJSON *args = cJSON_CreateArray();

	cJSON_AddItemToArray(args, o);
	sios_ack_send(ack, args, NULL, 0);
	cJSON_Delete(args);
}

static void on_flood(sios_socket *s, const sios_event *ev, void *ud)
{
	const cJSON *o = sios_event_arg(ev, 0);
	int n = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "n"));
	int size = (int)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "size"));
	char *pad = malloc((size_t)size + 1);
	sios_scope *sc;

	(void)s;
	(void)ud;
	memset(pad, 'x', (size_t)size);
	pad[size] = 0;
	sios_scope_new(root, &sc);
	sios_scope_to(sc, "flood");
	if (cJSON_IsTrue(cJSON_GetObjectItem(o, "volatile")))
		sios_scope_set_flags(sc, SIOS_SCOPE_VOLATILE);
	for (int i = 0; i < n; i++) {
		cJSON *args = cJSON_CreateArray();

		cJSON_AddItemToArray(args, cJSON_CreateNumber((double)seq++));
		cJSON_AddItemToArray(args, cJSON_CreateString(pad));
		sios_scope_emit(sc, "f", args, NULL, 0);
		cJSON_Delete(args);
		sios_room_sockets(root, "flood", measure, NULL);
	}
	sios_scope_free(sc);
	free(pad);
	reply(ev, counters());
}

static void on_stats(sios_socket *s, const sios_event *ev, void *ud)
{
	(void)s;
	(void)ud;
	reply(ev, counters());
}

static void on_drain(sios_socket *s, void *ud)
{
	(void)ud;
	printf("drain %s\n", sios_socket_id(s));
	fflush(stdout);
	sios_emit(s, "drained", NULL, NULL, 0);
}

static void on_connection(sios_socket *s, void *ud)
{
	(void)ud;
	sios_socket_join(s, "flood");
	sios_socket_drain_callback_set(s, on_drain, NULL);
	printf("connect %s\n", sios_socket_id(s));
	fflush(stdout);
}

static void on_disconnect(sios_socket *s, int reason, void *ud)
{
	(void)ud;
	printf("disconnect %s %s\n", sios_socket_id(s), sios_reason_str(reason));
	fflush(stdout);
}

int main(int argc, char **argv)
{
	sios_config *cfg;
	int policy = SIOS_SLOW_DISCONNECT;

	sios_config_new(&cfg);
	sios_config_set_host(cfg, "127.0.0.1");
	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			sios_config_set_port(cfg, atoi(argv[i + 1]));
		else if (!strcmp(argv[i], "--policy"))
			policy = !strcmp(argv[i + 1], "drop") ? SIOS_SLOW_DROP_OLDEST : SIOS_SLOW_DISCONNECT;
	}
	if (sios_config_set_max_queue(cfg, 256 * 1024, 0) || sios_config_set_queue_low_water(cfg, 32 * 1024) ||
	    sios_config_set_slow_consumer_policy(cfg, policy) ||
	    sios_config_set_slow_consumer_policy(cfg, 7) != SIOS_EINVAL)
		return 1;
	if (sios_server_new(cfg, &srv) < 0)
		return 1;
	sios_config_free(cfg);
	sios_of(srv, "/", &root);
	sios_nsp_connection_callback_set(root, on_connection, NULL);
	sios_nsp_disconnect_callback_set(root, on_disconnect, NULL);
	sios_nsp_on(root, "flood", on_flood, NULL);
	sios_nsp_on(root, "stats", on_stats, NULL);
	sios_server_stop_on_signal(srv, SIGTERM);
	printf("listening on port %d\n", sios_server_port(srv));
	fflush(stdout);
	sios_server_run(srv);
	sios_server_free(srv);
	return 0;
}
