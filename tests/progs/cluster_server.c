/*
 * Test server for clusters (tests/interop/cluster.test.js):
 *
 *   cluster_server --port N [--redis URL] [--name NAME] [--reuse-port 1]
 *                  [--recovery MS] (connection state recovery; "recovered"
 *                  answers whether the asking socket came back)
 *
 * Every request is an event on "/" (and on "/other"), acknowledged with
 * its result once it is known:
 *   join [rooms]          -> the socket's room count
 *   bcast {scope, data}   -> "ok"; the scope's sockets get "bcast" data
 *   bcast-ack {scope}     -> "ok"; later "bcast-ack-result"
 *                            {status, answers} to the requester
 *   fetch {scope}         -> [ids] of the scope's sockets, cluster-wide
 *   scope-join / scope-leave {scope, room}, scope-disconnect {scope}
 *   server-emit {event, args, ack} -> "ok", or {status, answers}
 *   server-count          -> n
 *   all-rooms             -> [rooms]
 *   stats                 -> {clusterDrops, clusterReconnects, sockets}
 * scope: {to:[], except:[], fromSelf, volatile, local, timeout}.
 * Server-side events: "hello" answers "hello from NAME", and is printed as
 * "server-event hello ARGS".
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sios.h>

static sios_server *srv;
static const char *name = "sios";

static cJSON *one(cJSON *item)
{
	cJSON *a = cJSON_CreateArray();

	cJSON_AddItemToArray(a, item);
	return a;
}

static void ack_with(sios_ack *ack, cJSON *item)
{
	cJSON *args = one(item);

	if (ack)
		sios_ack_send(ack, args, NULL, 0);
	else
		sios_ack_drop(ack);
	cJSON_Delete(args);
}

static void reply(const sios_event *ev, cJSON *item)
{
	ack_with(sios_event_take_ack(ev), item);
}

static const cJSON *opt(const sios_event *ev, const char *key)
{
	return cJSON_GetObjectItemCaseSensitive(sios_event_arg(ev, 0), key);
}

static void add_strings(int (*fn)(sios_scope *, const char *), sios_scope *sc, const cJSON *arr)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, arr)
		if (cJSON_IsString(it))
			fn(sc, it->valuestring);
}

static sios_scope *scope_for(sios_socket *s, const sios_event *ev)
{
	const cJSON *o = opt(ev, "scope"), *t = cJSON_GetObjectItemCaseSensitive(o, "timeout");
	unsigned flags = 0;
	sios_scope *sc;

	if ((cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "fromSelf"))
		     ? sios_scope_from_socket(s, &sc)
		     : sios_scope_new(sios_socket_nsp(s), &sc)) < 0)
		return NULL;
	add_strings(sios_scope_to, sc, cJSON_GetObjectItemCaseSensitive(o, "to"));
	add_strings(sios_scope_except, sc, cJSON_GetObjectItemCaseSensitive(o, "except"));
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "volatile")))
		flags |= SIOS_SCOPE_VOLATILE;
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "local")))
		flags |= SIOS_SCOPE_LOCAL;
	sios_scope_set_flags(sc, flags);
	if (cJSON_IsNumber(t))
		sios_scope_set_timeout(sc, (unsigned)t->valuedouble);
	return sc;
}

static void on_join(sios_socket *s, const sios_event *ev, void *ud)
{
	const cJSON *it;

	(void)ud;
	cJSON_ArrayForEach(it, sios_event_arg(ev, 0))
		if (cJSON_IsString(it))
			sios_socket_join(s, it->valuestring);
	reply(ev, cJSON_CreateNumber((double)sios_socket_rooms(s, NULL, NULL)));
}

static void on_bcast(sios_socket *s, const sios_event *ev, void *ud)
{
	sios_scope *sc = scope_for(s, ev);
	const cJSON *data = opt(ev, "data");
	cJSON *args = one(data ? cJSON_Duplicate(data, 1) : cJSON_CreateNull());
	int r;

	(void)ud;
	/* binary data goes on as binary: the placeholders keep their numbers */
	r = sc ? sios_scope_emit(sc, "bcast", args, sios_event_binaries(ev),
				 sios_event_binary_count(ev))
	       : SIOS_ENOMEM;
	sios_scope_free(sc);
	cJSON_Delete(args);
	reply(ev, cJSON_CreateString(r ? sios_err_name(r) : "ok"));
}

static void bcast_acked(int status, const sios_event *const *resp, size_t n, void *ud)
{
	char *requester = ud;
	sios_nsp *root;
	sios_socket *s;
	cJSON *o = cJSON_CreateObject(), *answers = cJSON_CreateArray();

	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(answers, cJSON_Duplicate(sios_event_arg(resp[i], 0), 1));
	cJSON_AddStringToObject(o, "status", status ? sios_err_name(status) : "ok");
	cJSON_AddItemToObject(o, "answers", answers);
	sios_of(srv, "/", &root);
	if ((s = sios_nsp_socket(root, requester))) {
		cJSON *args = one(o);

		sios_emit(s, "bcast-ack-result", args, NULL, 0);
		cJSON_Delete(args);
	} else {
		cJSON_Delete(o);
	}
	free(requester);
}

static void on_bcast_ack(sios_socket *s, const sios_event *ev, void *ud)
{
	sios_scope *sc = scope_for(s, ev);
	char *me = strdup(sios_socket_id(s));
	int r;

	(void)ud;
	r = sc ? sios_scope_emit_with_ack(sc, "question", NULL, NULL, 0, bcast_acked, me)
	       : SIOS_ENOMEM;
	if (r)
		free(me);
	sios_scope_free(sc);
	reply(ev, cJSON_CreateString(r ? sios_err_name(r) : "ok"));
}

static void fetched(int status, const cJSON *sockets, void *ud)
{
	cJSON *ids = cJSON_CreateArray();
	const cJSON *it;

	if (status) {
		cJSON_Delete(ids);
		ack_with(ud, cJSON_CreateString(sios_err_name(status)));
		return;
	}
	cJSON_ArrayForEach(it, sockets)
		cJSON_AddItemToArray(ids, cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(it, "id"), 1));
	ack_with(ud, ids);
}

static void on_fetch(sios_socket *s, const sios_event *ev, void *ud)
{
	sios_scope *sc = scope_for(s, ev);
	sios_ack *ack = sios_event_take_ack(ev);
	int r;

	(void)ud;
	r = sc ? sios_scope_fetch_sockets(sc, fetched, ack) : SIOS_ENOMEM;
	if (r)
		ack_with(ack, cJSON_CreateString(sios_err_name(r)));
	sios_scope_free(sc);
}

static void on_scope_op(sios_socket *s, const sios_event *ev, void *ud)
{
	sios_scope *sc = scope_for(s, ev);
	const cJSON *room = opt(ev, "room");
	const char *op = ud;
	int r = SIOS_EINVAL;

	if (sc && !strcmp(op, "join") && cJSON_IsString(room))
		r = sios_scope_join(sc, room->valuestring);
	else if (sc && !strcmp(op, "leave") && cJSON_IsString(room))
		r = sios_scope_leave(sc, room->valuestring);
	else if (sc && !strcmp(op, "disconnect"))
		r = sios_scope_disconnect(sc, 0);
	sios_scope_free(sc);
	reply(ev, cJSON_CreateString(r ? sios_err_name(r) : "ok"));
}

static void server_acked(int status, const cJSON *responses, void *ud)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "status", status ? sios_err_name(status) : "ok");
	cJSON_AddItemToObject(o, "answers",
			      responses ? cJSON_Duplicate(responses, 1) : cJSON_CreateArray());
	ack_with(ud, o);
}

static void on_server_emit(sios_socket *s, const sios_event *ev, void *ud)
{
	const cJSON *event = opt(ev, "event"), *args = opt(ev, "args");
	sios_nsp *nsp = sios_socket_nsp(s);
	int r;

	(void)ud;
	if (!cJSON_IsString(event)) {
		reply(ev, cJSON_CreateString("EINVAL"));
		return;
	}
	if (cJSON_IsTrue(opt(ev, "ack"))) {
		sios_ack *ack = sios_event_take_ack(ev);

		r = sios_server_side_emit_with_ack(nsp, event->valuestring, args, 0, server_acked, ack);
		if (r)
			ack_with(ack, cJSON_CreateString(sios_err_name(r)));
		return;
	}
	r = sios_server_side_emit(nsp, event->valuestring, args);
	reply(ev, cJSON_CreateString(r ? sios_err_name(r) : "ok"));
}

static void counted(int status, size_t n, void *ud)
{
	ack_with(ud, status ? cJSON_CreateString(sios_err_name(status)) : cJSON_CreateNumber((double)n));
}

static void on_server_count(sios_socket *s, const sios_event *ev, void *ud)
{
	sios_ack *ack = sios_event_take_ack(ev);
	int r = sios_nsp_server_count(sios_socket_nsp(s), counted, ack);

	(void)ud;
	if (r)
		ack_with(ack, cJSON_CreateString(sios_err_name(r)));
}

static void rooms_got(int status, const cJSON *rooms, void *ud)
{
	ack_with(ud, status ? cJSON_CreateString(sios_err_name(status)) : cJSON_Duplicate(rooms, 1));
}

static void on_all_rooms(sios_socket *s, const sios_event *ev, void *ud)
{
	sios_ack *ack = sios_event_take_ack(ev);
	int r = sios_nsp_all_rooms(sios_socket_nsp(s), 0, rooms_got, ack);

	(void)ud;
	if (r)
		ack_with(ack, cJSON_CreateString(sios_err_name(r)));
}

static void on_recovered(sios_socket *s, const sios_event *ev, void *ud)
{
	(void)ud;
	reply(ev, cJSON_CreateBool(sios_socket_recovered(s)));
}

/* "direct" {data}: sios_emit() "bcast" data to the asking socket */
static void on_self(sios_socket *s, const sios_event *ev, void *ud)
{
	const cJSON *data = opt(ev, "data");
	cJSON *args = one(data ? cJSON_Duplicate(data, 1) : cJSON_CreateNull());
	int r = sios_emit(s, "bcast", args, NULL, 0);

	(void)ud;
	cJSON_Delete(args);
	reply(ev, cJSON_CreateString(r ? sios_err_name(r) : "ok"));
}

static void on_stats(sios_socket *s, const sios_event *ev, void *ud)
{
	sios_stats st;
	cJSON *o = cJSON_CreateObject();

	(void)s;
	(void)ud;
	sios_server_stats(srv, &st, sizeof(st));
	cJSON_AddNumberToObject(o, "clusterDrops", (double)st.cluster_drops);
	cJSON_AddNumberToObject(o, "clusterReconnects", (double)st.cluster_reconnects);
	cJSON_AddNumberToObject(o, "sockets", (double)st.sockets);
	reply(ev, o);
}

/* a client answers "question" itself; this is the other servers' side */
static void on_server_event(sios_nsp *nsp, const char *event, const cJSON *args,
			    sios_server_reply *rep, void *ud)
{
	char *text = cJSON_PrintUnformatted(args);
	char buf[128];
	cJSON *answer;

	(void)nsp;
	(void)ud;
	printf("server-event %s %s\n", event, text ? text : "?");
	fflush(stdout);
	free(text);
	if (rep && !strcmp(event, "hello")) {
		snprintf(buf, sizeof(buf), "hello from %s", name);
		answer = cJSON_CreateString(buf);
		sios_server_reply_send(rep, answer);
		cJSON_Delete(answer);
	}
}

static void setup(sios_nsp *nsp)
{
	static const struct {
		const char *name;
		sios_event_cb cb;
		const char *ud;
	} h[] = {
		{"join", on_join, NULL},
		{"bcast", on_bcast, NULL},
		{"bcast-ack", on_bcast_ack, NULL},
		{"fetch", on_fetch, NULL},
		{"scope-join", on_scope_op, "join"},
		{"scope-leave", on_scope_op, "leave"},
		{"scope-disconnect", on_scope_op, "disconnect"},
		{"server-emit", on_server_emit, NULL},
		{"server-count", on_server_count, NULL},
		{"all-rooms", on_all_rooms, NULL},
		{"stats", on_stats, NULL},
		{"recovered", on_recovered, NULL},
		{"self", on_self, NULL},
	};

	for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++)
		sios_nsp_on(nsp, h[i].name, h[i].cb, (void *)h[i].ud);
	sios_nsp_server_event_callback_set(nsp, on_server_event, NULL);
}

int main(int argc, char **argv)
{
	sios_config *cfg;
	sios_nsp *root, *other;
	int port = 0, reuse = 0, recovery = 0, r;
	const char *redis = NULL;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			port = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--redis"))
			redis = argv[i + 1];
		else if (!strcmp(argv[i], "--name"))
			name = argv[i + 1];
		else if (!strcmp(argv[i], "--reuse-port"))
			reuse = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--recovery"))
			recovery = atoi(argv[i + 1]);
	}
	sios_config_new(&cfg);
	sios_config_set_host(cfg, "127.0.0.1");
	sios_config_set_port(cfg, port);
	sios_config_set_reuse_port(cfg, reuse);
	sios_config_set_recovery(cfg, (unsigned)recovery, 0);
	if (redis && (r = sios_config_set_redis(cfg, redis)) < 0) {
		fprintf(stderr, "cluster_server: --redis: %s\n", sios_strerror(r));
		return 2;
	}
	if ((r = sios_server_new(cfg, &srv)) < 0) {
		fprintf(stderr, "cluster_server: %s: %s\n", sios_err_name(r), sios_strerror(r));
		return 1;
	}
	sios_config_free(cfg);
	sios_of(srv, "/", &root);
	sios_of(srv, "/other", &other);
	setup(root);
	setup(other);
	sios_server_stop_on_signal(srv, SIGTERM);
	sios_server_stop_on_signal(srv, SIGINT);
	printf("listening on port %d\n", sios_server_port(srv));
	fflush(stdout);
	sios_server_run(srv);
	sios_server_free(srv);
	return 0;
}
