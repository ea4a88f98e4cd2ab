/*
 * Test server for rooms, scopes, middleware and dynamic namespaces
 * (tests/interop/scopes.test.js, tests/interop/scopes_raw_test.py).
 * Every request is an event acknowledged with its result.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sios.h>

static sios_server *srv;
static sios_next *pending[16];
static int npending;

static cJSON *one(cJSON *item)
{
	cJSON *a = cJSON_CreateArray();

	cJSON_AddItemToArray(a, item);
	return a;
}

static void reply(const sios_event *ev, cJSON *item)
{
	sios_ack *ack = sios_event_take_ack(ev);
	cJSON *args = one(item);

	if (ack)
		sios_ack_send(ack, args, NULL, 0);
	cJSON_Delete(args);
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

/* {to:[], except:[], fromSelf, volatile, timeout} */
static sios_scope *scope_for(sios_socket *s, const sios_event *ev)
{
	sios_scope *sc;
	const cJSON *t = opt(ev, "timeout");

	if ((cJSON_IsTrue(opt(ev, "fromSelf")) ? sios_scope_from_socket(s, &sc)
					       : sios_scope_new(sios_socket_nsp(s), &sc)) < 0)
		return NULL;
	add_strings(sios_scope_to, sc, opt(ev, "to"));
	add_strings(sios_scope_except, sc, opt(ev, "except"));
	if (cJSON_IsTrue(opt(ev, "volatile")))
		sios_scope_set_flags(sc, SIOS_SCOPE_VOLATILE);
	if (cJSON_IsNumber(t))
		sios_scope_set_timeout(sc, (unsigned)t->valuedouble);
	return sc;
}

static cJSON *stats_json(void)
{
	sios_stats st;
	cJSON *o = cJSON_CreateObject();

	sios_server_stats(srv, &st, sizeof(st));
	cJSON_AddNumberToObject(o, "encoded", (double)st.packets_encoded);
	cJSON_AddNumberToObject(o, "broadcasts", (double)st.broadcasts);
	cJSON_AddNumberToObject(o, "deliveries", (double)st.broadcast_deliveries);
	cJSON_AddNumberToObject(o, "volatileDrops", (double)st.volatile_drops);
	cJSON_AddNumberToObject(o, "sockets", (double)st.sockets);
	cJSON_AddNumberToObject(o, "connections", (double)st.connections);
	return o;
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

static void on_leave(sios_socket *s, const sios_event *ev, void *ud)
{
	const cJSON *r = sios_event_arg(ev, 0);

	(void)ud;
	if (cJSON_IsString(r))
		sios_socket_leave(s, r->valuestring);
	reply(ev, cJSON_CreateNumber((double)sios_socket_rooms(s, NULL, NULL)));
}

static void add_room(const char *room, void *ud) { cJSON_AddItemToArray(ud, cJSON_CreateString(room)); }

static void on_rooms(sios_socket *s, const sios_event *ev, void *ud)
{
	cJSON *a = cJSON_CreateArray();

	(void)ud;
	sios_socket_rooms(s, add_room, a);
	reply(ev, a);
}

static void on_room_size(sios_socket *s, const sios_event *ev, void *ud)
{
	const cJSON *r = sios_event_arg(ev, 0);

	(void)ud;
	reply(ev, cJSON_CreateNumber(cJSON_IsString(r) ? (double)sios_room_sockets(sios_socket_nsp(s),
										  r->valuestring, NULL, NULL)
						      : -1));
}

static void on_bcast(sios_socket *s, const sios_event *ev, void *ud)
{
	sios_scope *sc = scope_for(s, ev);
	const cJSON *data = opt(ev, "data");
	cJSON *args = one(data ? cJSON_Duplicate(data, 1) : cJSON_CreateNull());
	int r;

	(void)ud;
	r = sc ? sios_scope_emit(sc, "bcast", args, NULL, 0) : SIOS_ENOMEM;
	sios_scope_free(sc);
	cJSON_Delete(args);
	reply(ev, r == 0 ? stats_json() : cJSON_CreateString(sios_err_name(r)));
}

static void bcast_acked(int status, const sios_event *const *resp, size_t n, void *ud)
{
	char *requester = ud;
	sios_nsp *root;
	sios_socket *s;
	cJSON *o = cJSON_CreateObject(), *answers = cJSON_CreateArray(), *ids = cJSON_CreateArray();

	for (size_t i = 0; i < n; i++) {
		cJSON_AddItemToArray(answers, cJSON_Duplicate(sios_event_arg(resp[i], 0), 1));
		cJSON_AddItemToArray(ids, cJSON_CreateString(sios_event_socket_id(resp[i])));
	}
	cJSON_AddStringToObject(o, "status", sios_err_name(status));
	cJSON_AddItemToObject(o, "answers", answers);
	cJSON_AddItemToObject(o, "ids", ids);
	sios_of(srv, "/", &root);
	s = sios_nsp_socket(root, requester);
	if (s) {
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
	r = sc ? sios_scope_emit_with_ack(sc, "question", NULL, NULL, 0, bcast_acked, me) : SIOS_ENOMEM;
	if (r)
		free(me);
	sios_scope_free(sc);
	reply(ev, cJSON_CreateString(sios_err_name(r)));
}

static void fetched(int status, const cJSON *sockets, void *ud)
{
	cJSON **out = ud;

	*out = status ? cJSON_CreateString(sios_err_name(status)) : cJSON_Duplicate(sockets, 1);
}

static void on_fetch(sios_socket *s, const sios_event *ev, void *ud)
{
	sios_scope *sc = scope_for(s, ev);
	cJSON *result = NULL;

	(void)ud;
	if (sc)
		sios_scope_fetch_sockets(sc, fetched, &result);
	sios_scope_free(sc);
	reply(ev, result ? result : cJSON_CreateNull());
}

static void on_scope_op(sios_socket *s, const sios_event *ev, void *ud)
{
	const char *op = ud;
	sios_scope *sc = scope_for(s, ev);
	const cJSON *room = opt(ev, "room");
	int r = SIOS_EINVAL;

	if (sc && !strcmp(op, "join") && cJSON_IsString(room))
		r = sios_scope_join(sc, room->valuestring);
	else if (sc && !strcmp(op, "leave") && cJSON_IsString(room))
		r = sios_scope_leave(sc, room->valuestring);
	else if (sc && !strcmp(op, "disconnect"))
		r = sios_scope_disconnect(sc, cJSON_IsTrue(opt(ev, "close")));
	sios_scope_free(sc);
	reply(ev, cJSON_CreateString(sios_err_name(r)));
}

static void on_server_side(sios_socket *s, const sios_event *ev, void *ud)
{
	(void)ud;
	reply(ev, cJSON_CreateString(sios_err_name(sios_server_side_emit(sios_socket_nsp(s), "ping",
									  NULL))));
}

static void on_stats(sios_socket *s, const sios_event *ev, void *ud)
{
	(void)s;
	(void)ud;
	reply(ev, stats_json());
}

/* resolves the oldest CONNECT waiting in /guarded's middleware */
static void on_decide(sios_socket *s, const sios_event *ev, void *ud)
{
	sios_next *nx;
	const cJSON *msg = opt(ev, "message");
	int r;

	(void)s;
	(void)ud;
	if (!npending) {
		reply(ev, cJSON_CreateString("none"));
		return;
	}
	nx = pending[0];
	memmove(pending, pending + 1, (size_t)--npending * sizeof(pending[0]));
	if (cJSON_IsTrue(opt(ev, "accept")))
		r = sios_next_accept(nx);
	else
		r = sios_next_reject(nx, cJSON_IsString(msg) ? msg->valuestring : "no", opt(ev, "data"));
	reply(ev, cJSON_CreateString(sios_err_name(r)));
}

static void on_pending(sios_socket *s, const sios_event *ev, void *ud)
{
	(void)s;
	(void)ud;
	reply(ev, cJSON_CreateNumber(npending));
}

static void guarded_wait(sios_socket *s, sios_next *next, void *ud)
{
	(void)s;
	(void)ud;
	if (npending == 16)
		sios_next_reject(next, "busy", NULL);
	else
		pending[npending++] = next;
}

/* second in the chain: refuses auth.name == "second" at once */
static void guarded_second(sios_socket *s, sios_next *next, void *ud)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(sios_socket_auth(s), "name");
	cJSON *data = cJSON_CreateObject();

	(void)ud;
	cJSON_AddStringToObject(data, "stage", "second");
	if (cJSON_IsString(n) && !strcmp(n->valuestring, "second"))
		sios_next_reject(next, "refused by the second middleware", data);
	else
		sios_next_accept(next);
	cJSON_Delete(data);
}

static int event_mw(sios_socket *s, const sios_event *ev, void *ud)
{
	(void)s;
	(void)ud;
	if (!strcmp(sios_event_name(ev), "dropped"))
		return SIOS_DROP;
	if (!strcmp(sios_event_name(ev), "forbidden"))
		return sios_event_reject(ev, "forbidden event");
	return SIOS_PASS;
}

static void on_mw_error(sios_socket *s, const char *message, void *ud)
{
	cJSON *args = one(cJSON_CreateString(message));

	(void)ud;
	sios_emit(s, "mw-error", args, NULL, 0);
	cJSON_Delete(args);
}

static void on_echo(sios_socket *s, const sios_event *ev, void *ud)
{
	(void)s;
	(void)ud;
	reply(ev, cJSON_Duplicate(sios_event_arg(ev, 0), 1));
}

static void on_connection(sios_socket *s, void *ud)
{
	sios_nsp *nsp = sios_socket_nsp(s), *parent = sios_nsp_parent(nsp);

	(void)ud;
	sios_socket_use(s, event_mw, NULL);
	sios_socket_error_callback_set(s, on_mw_error, NULL);
	printf("connect %s %s parent=%s\n", sios_nsp_name(nsp), sios_socket_id(s),
	       parent ? sios_nsp_name(parent) : "-");
	fflush(stdout);
}

static void on_disconnecting(sios_socket *s, int reason, void *ud)
{
	(void)ud;
	printf("disconnecting %s %s rooms=%zu\n", sios_socket_id(s), sios_reason_str(reason),
	       sios_socket_rooms(s, NULL, NULL));
	fflush(stdout);
}

static void on_room(sios_nsp *nsp, int type, const char *room, const char *sid, void *ud)
{
	static const char *names[] = {"", "created", "deleted", "joined", "left"};

	(void)ud;
	printf("room %s %s %s %s\n", sios_nsp_name(nsp), names[type], room, sid ? sid : "-");
	fflush(stdout);
}

static int pred_match(const char *name, const cJSON *auth, void *ud)
{
	(void)ud;
	return !strncmp(name, "/pred-", 6) && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(auth, "allow"));
}

static void setup(sios_nsp *nsp)
{
	static const struct {
		const char *name;
		sios_event_cb cb;
		void *ud;
	} h[] = {
		{"join", on_join, NULL},
		{"leave", on_leave, NULL},
		{"rooms", on_rooms, NULL},
		{"room-size", on_room_size, NULL},
		{"bcast", on_bcast, NULL},
		{"bcast-ack", on_bcast_ack, NULL},
		{"fetch", on_fetch, NULL},
		{"scope-join", on_scope_op, "join"},
		{"scope-leave", on_scope_op, "leave"},
		{"scope-disconnect", on_scope_op, "disconnect"},
		{"server-side", on_server_side, NULL},
		{"stats", on_stats, NULL},
		{"decide", on_decide, NULL},
		{"pending", on_pending, NULL},
		{"echo", on_echo, NULL},
		{"dropped", on_echo, NULL},
		{"forbidden", on_echo, NULL},
	};

	for (size_t i = 0; i < sizeof(h) / sizeof(h[0]); i++)
		sios_nsp_on(nsp, h[i].name, h[i].cb, h[i].ud);
	sios_nsp_connection_callback_set(nsp, on_connection, NULL);
	sios_nsp_disconnecting_callback_set(nsp, on_disconnecting, NULL);
	sios_nsp_room_callback_set(nsp, on_room, NULL);
}

int main(int argc, char **argv)
{
	sios_config *cfg;
	sios_nsp *root, *guarded, *dyn, *pred;

	sios_config_new(&cfg);
	sios_config_set_host(cfg, "127.0.0.1");
	sios_config_set_cleanup_empty_namespaces(cfg, 1);
	if (argc == 3 && !strcmp(argv[1], "--port"))
		sios_config_set_port(cfg, atoi(argv[2]));
	if (sios_server_new(cfg, &srv) < 0)
		return 1;
	sios_config_free(cfg);
	sios_of(srv, "/", &root);
	setup(root);
	sios_of(srv, "/guarded", &guarded);
	setup(guarded);
	sios_nsp_use(guarded, guarded_wait, NULL);
	sios_nsp_use(guarded, guarded_second, NULL);
	if (sios_of_regex(srv, "([", &dyn) != SIOS_EINVAL)
		return 1;
	sios_of_regex(srv, "^/dyn-[a-z]+$", &dyn);
	setup(dyn);
	sios_of_match(srv, pred_match, NULL, &pred);
	setup(pred);
	sios_server_stop_on_signal(srv, SIGTERM);
	printf("listening on port %d\n", sios_server_port(srv));
	fflush(stdout);
	sios_server_run(srv);
	while (npending)
		sios_next_reject(pending[--npending], "shutting down", NULL);
	sios_server_free(srv);
	return 0;
}
