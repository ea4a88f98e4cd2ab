/* The adapter contract (lib/adapter/adapter.h) as a suite any adapter must
 * pass, and the broadcast-ack tracker it feeds.
 *
 * A fixture is a cluster: nservers servers on one libuv loop, made with the
 * fixture's adapter kind. Clients are fake sessions (no sockets) spread over
 * the servers; what they are sent is read from their queues. Every
 * operation starts on server 0, so on a cluster it crosses servers; the
 * expected results are the same for one server or several. Waits are
 * bounded loops of the event loop until a condition holds, never sleeps.
 *
 * Fixtures: the in-memory adapter without and with connection state
 * recovery; built with Redis, three servers with the Redis adapter on a
 * private redis-server this test starts on a loopback port. */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <unistd.h>
#include <uv.h>

#include "core/core_int.h"
#include "tap.h"

typedef struct fixture {
	const char *name;
	size_t nservers;
	unsigned recovery_ms; /* sessions persist and restore for this long */
	sios__adapter_kind (*kind)(const struct fixture *f, size_t idx);
} fixture;

#define MAXS 4
#define NCL 4

static uv_loop_t loop;
static const fixture *F;
static sios_server *srv[MAXS];
static sios_nsp *root[MAXS];

/* ---- the loop ------------------------------------------------------------ */

static void wake(uv_timer_t *t) { (void)t; }

/* runs the loop until cond(ud) holds or ms pass; returns whether it held */
static int spin_until(int (*cond)(void *), void *ud, unsigned ms)
{
	uint64_t end = uv_now(&loop) + ms;
	uv_timer_t t;
	int ok;

	uv_timer_init(&loop, &t);
	uv_timer_start(&t, wake, 5, 5); /* the loop never blocks for long */
	while (!(ok = cond(ud)) && uv_now(&loop) < end)
		uv_run(&loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&t, NULL);
	uv_run(&loop, UV_RUN_NOWAIT);
	return ok;
}

/* ---- clients ------------------------------------------------------------- */

typedef struct client {
	size_t server;
	char eio[SIOS__ID_LEN + 1];
	char sid[SIOS__ID_LEN + 1]; /* the socket id, from the CONNECT reply */
	char **msgs;
	size_t nmsgs;
} client;

static sios_eio_conn *conn_of(client *c)
{
	sios_eio_conn *e = sios__map_get(&srv[c->server]->eng.sessions, c->eio);

	return e && sios__session_is_open(e) ? e : NULL;
}

static void keep_msg(const void *data, size_t len, int binary, void *ud)
{
	client *c = ud;
	char *m = malloc(len + 1);
	char **nv = realloc(c->msgs, (c->nmsgs + 1) * sizeof(*nv));

	if (!m || !nv)
		abort();
	memcpy(m, data, len);
	m[len] = 0;
	if (binary)
		m[0] = 'B';
	c->msgs = nv;
	c->msgs[c->nmsgs++] = m;
}

static void pump(client *c)
{
	sios_eio_conn *e = conn_of(c);

	if (e)
		sios__session_fake_take(e, keep_msg, c);
}

static void send_text(client *c, const char *text)
{
	sios_eio_conn *e = conn_of(c);

	if (e)
		sios__session_feed(e, text, strlen(text), 0);
}

static void forget(client *c)
{
	for (size_t i = 0; i < c->nmsgs; i++)
		free(c->msgs[i]);
	free(c->msgs);
	c->msgs = NULL;
	c->nmsgs = 0;
}

/* messages received that start with prefix */
static size_t count(client *c, const char *prefix)
{
	size_t n = 0;

	pump(c);
	for (size_t i = 0; i < c->nmsgs; i++)
		n += !strncmp(c->msgs[i], prefix, strlen(prefix));
	return n;
}

static int open_client(client *c, size_t server)
{
	sios_eio_conn *e;

	memset(c, 0, sizeof(*c));
	c->server = server;
	if (!(e = sios__session_fake(&srv[server]->eng, srv[server]->sio_ep)))
		return -1;
	strcpy(c->eio, sios_eio_conn_id(e));
	send_text(c, "40");
	pump(c);
	for (size_t i = 0; i < c->nmsgs; i++) {
		cJSON *o, *sid;

		if (strncmp(c->msgs[i], "40{", 3))
			continue;
		o = cJSON_Parse(c->msgs[i] + 2);
		sid = cJSON_GetObjectItemCaseSensitive(o, "sid");
		if (cJSON_IsString(sid) && strlen(sid->valuestring) <= SIOS__ID_LEN)
			strcpy(c->sid, sid->valuestring);
		cJSON_Delete(o);
	}
	forget(c);
	return *c->sid ? 0 : -1;
}

static sios_socket *sock_of(client *c) { return sios_nsp_socket(root[c->server], c->sid); }

/* ---- a fence: everything sent before it has arrived ------------------- */

static client cl[NCL];
static unsigned fence_no;

struct fence {
	char prefix[40];
};

static int fenced(void *ud)
{
	struct fence *f = ud;

	for (int k = 0; k < NCL; k++)
		if (conn_of(&cl[k]) && !count(&cl[k], f->prefix))
			return 0;
	return 1;
}

static int fence(void)
{
	struct fence f;
	char ev[16];

	snprintf(ev, sizeof(ev), "fence%u", ++fence_no);
	snprintf(f.prefix, sizeof(f.prefix), "42[\"%s\"", ev);
	return sios_room_emit(root[0], NULL, ev, NULL, NULL, 0) == 0 && spin_until(fenced, &f, 5000);
}

/* which clients got event ev: a bit per client, -1 if one got it twice */
static int got(const char *ev)
{
	char prefix[40];
	int mask = 0;

	snprintf(prefix, sizeof(prefix), "42[\"%s\"", ev);
	for (int k = 0; k < NCL; k++) {
		size_t n = count(&cl[k], prefix);

		if (n > 1)
			return -1;
		mask |= n ? 1 << k : 0;
	}
	return mask;
}

#define A 1
#define B 2
#define C 4
#define D 8

/* ---- broadcasts --------------------------------------------------------- */

static int scope_emit(const char *ev, const char *const *to, const char *const *except,
		      int from, unsigned flags)
{
	sios_scope *sc;
	int r = from >= 0 ? sios_scope_from_socket(sock_of(&cl[from]), &sc)
			  : sios_scope_new(root[0], &sc);

	for (; !r && to && *to; to++)
		r = sios_scope_to(sc, *to);
	for (; !r && except && *except; except++)
		r = sios_scope_except(sc, *except);
	if (!r)
		r = sios_scope_set_flags(sc, flags);
	if (!r)
		r = sios_scope_emit(sc, ev, NULL, NULL, 0);
	sios_scope_free(sc);
	return r;
}

static void test_broadcast(void)
{
	const char *r1[] = {"r1", NULL}, *r12[] = {"r1", "r2", NULL}, *r2[] = {"r2", NULL};
	const char *xc[] = {cl[2].sid, NULL};
	int r = 0;

	/* A in r1 and r2, B in r1, C in r2, D in none */
	r |= sios_socket_join(sock_of(&cl[0]), "r1") | sios_socket_join(sock_of(&cl[0]), "r2");
	r |= sios_socket_join(sock_of(&cl[1]), "r1") | sios_socket_join(sock_of(&cl[2]), "r2");
	CHECK(!r, "[%s] clients join rooms", F->name);

	r = scope_emit("all", NULL, NULL, -1, 0);
	r |= scope_emit("to_r1", r1, NULL, -1, 0);
	r |= scope_emit("to_r1_r2", r12, NULL, -1, 0);
	r |= scope_emit("r12_but_r2", r12, r2, -1, 0);
	r |= scope_emit("but_c", NULL, xc, -1, 0);
	r |= scope_emit("from_a_r1", r1, NULL, 0, 0);
	r |= sios_room_emit(root[0], "r2", "room_r2", NULL, NULL, 0);
	r |= sios_room_emit(root[0], NULL, "room_all", NULL, NULL, 0);
	r |= scope_emit("local", NULL, NULL, -1, SIOS_SCOPE_LOCAL);
	r |= scope_emit("nobody", (const char *[]){"empty", NULL}, NULL, -1, 0);
	CHECK(!r && fence(), "[%s] broadcasts sent, a fence behind them arrives", F->name);
	CHECK(got("all") == (A | B | C | D), "[%s] the namespace: everyone once", F->name);
	CHECK(got("to_r1") == (A | B), "[%s] to(r1): A and B", F->name);
	CHECK(got("to_r1_r2") == (A | B | C), "[%s] to(r1, r2): A (in both) once, B, C",
	      F->name);
	CHECK(got("r12_but_r2") == B, "[%s] to(r1, r2).except(r2): B", F->name);
	CHECK(got("but_c") == (A | B | D), "[%s] except(C's id): all but C", F->name);
	CHECK(got("from_a_r1") == B, "[%s] from A to r1: B, not the sender", F->name);
	CHECK(got("room_r2") == (A | C) && got("room_all") == (A | B | C | D),
	      "[%s] sios_room_emit to r2 and to all", F->name);
	{
		int local = 0;

		for (int k = 0; k < NCL; k++)
			local |= cl[k].server == 0 ? 1 << k : 0;
		CHECK(got("local") == local, "[%s] local: this server's sockets only (%d)", F->name,
		      got("local"));
	}
	CHECK(got("nobody") == 0, "[%s] an empty room: no one", F->name);
	{
		/* one encode however many recipients: the frame is shared */
		uint64_t enc = srv[0]->packets_encoded;

		r = sios_room_emit(root[0], NULL, "once", NULL, NULL, 0);
		CHECK(!r && srv[0]->packets_encoded == enc + 1,
		      "[%s] a broadcast is encoded once on the sending server", F->name);
		fence();
	}
	{
		/* the packet the caller cannot send is its error */
		sios_binary bins[1001];
		cJSON *args = cJSON_CreateArray();
		static char bytes[1001];

		for (int i = 0; i < 1001; i++) {
			bins[i].data = &bytes[i];
			bins[i].len = 1;
			cJSON_AddItemToArray(args, sios_binary_placeholder(i));
		}
		r = sios_room_emit(root[0], NULL, "huge", args, bins, 1001);
		CHECK(r == SIOS_ETOOBIG, "[%s] 1001 attachments: SIOS_ETOOBIG (%s)", F->name,
		      sios_strerror(r));
		cJSON_Delete(args);
	}
}

/* ---- broadcasts with acks ---------------------------------------------- */

struct acks {
	int calls, status;
	size_t n;
	char answers[NCL * 16];
	char sids[NCL][SIOS__ID_LEN + 1];
};

static void on_acks(int status, const sios_event *const *resp, size_t n, void *ud)
{
	struct acks *a = ud;

	a->calls++;
	a->status = status;
	a->n = n;
	a->answers[0] = 0;
	for (size_t i = 0; i < n; i++) {
		const cJSON *x = sios_event_arg(resp[i], 0);

		if (cJSON_IsString(x) && strlen(a->answers) + strlen(x->valuestring) + 2 <
						 sizeof(a->answers)) {
			strcat(a->answers, x->valuestring);
			strcat(a->answers, ",");
		}
		if (i < NCL)
			snprintf(a->sids[i], sizeof(a->sids[i]), "%s", sios_event_socket_id(resp[i]));
	}
}

/* the ack id of the last "42<id>["ev"" message a client got, or -1 */
static long long ack_id(client *c, const char *ev)
{
	char pat[40];
	long long id = -1;

	pump(c);
	snprintf(pat, sizeof(pat), "[\"%s\"", ev);
	for (size_t i = 0; i < c->nmsgs; i++) {
		char *end, *m = c->msgs[i];

		if (strncmp(m, "42", 2))
			continue;
		long long v = strtoll(m + 2, &end, 10);
		if (end != m + 2 && !strncmp(end, pat, strlen(pat)))
			id = v;
	}
	return id;
}

static void answer(client *c, const char *ev, const char *text)
{
	char buf[128];
	long long id = ack_id(c, ev);

	if (id >= 0) {
		snprintf(buf, sizeof(buf), "43%lld[\"%s\"]", id, text);
		send_text(c, buf);
	}
}

struct asked {
	const char *ev;
	int mask;
};

static int all_asked(void *ud)
{
	struct asked *q = ud;

	for (int k = 0; k < NCL; k++)
		if ((q->mask & 1 << k) && ack_id(&cl[k], q->ev) < 0)
			return 0;
	return 1;
}

static int emit_ack(const char *ev, const char *room, unsigned timeout, struct acks *a)
{
	sios_scope *sc;
	int r = sios_scope_new(root[0], &sc);

	memset(a, 0, sizeof(*a));
	if (!r && room)
		r = sios_scope_to(sc, room);
	if (!r)
		r = sios_scope_set_timeout(sc, timeout);
	if (!r)
		r = sios_scope_emit_with_ack(sc, ev, NULL, NULL, 0, on_acks, a);
	sios_scope_free(sc);
	return r;
}

static int one_call(void *ud) { return ((struct acks *)ud)->calls > 0; }

static void test_broadcast_acks(void)
{
	struct acks a;
	struct asked q = {"ask1", A | B | C | D};
	int r;

	r = emit_ack("ask1", NULL, 5000, &a);
	CHECK(!r && spin_until(all_asked, &q, 5000), "[%s] every client is asked, with an id",
	      F->name);
	CHECK(a.calls == 0, "[%s] no callback before the answers", F->name);
	answer(&cl[0], "ask1", "a");
	answer(&cl[1], "ask1", "b");
	answer(&cl[2], "ask1", "c");
	CHECK(a.calls == 0 || F->nservers > 1, "[%s] three answers of four: still waiting",
	      F->name);
	answer(&cl[3], "ask1", "d");
	CHECK(spin_until(one_call, &a, 5000) && a.calls == 1 && a.status == 0 && a.n == 4,
	      "[%s] four answers: the callback, status 0, n 4", F->name);
	CHECK(strstr(a.answers, "a,") && strstr(a.answers, "b,") && strstr(a.answers, "c,") &&
		      strstr(a.answers, "d,"),
	      "[%s] every answer is there (%s)", F->name, a.answers);
	{
		int local_sid = 0;

		for (size_t i = 0; i < a.n && i < NCL; i++)
			local_sid += !strcmp(a.sids[i], cl[0].sid);
		CHECK(local_sid == 1, "[%s] a local answer names its socket", F->name);
	}

	/* an empty selection completes at once (on a cluster: once every
	 * server has said it asked no one) */
	r = emit_ack("ask_none", "empty", 5000, &a);
	CHECK(!r && spin_until(one_call, &a, 5000) && a.status == 0 && a.n == 0,
	      "[%s] no recipient: status 0 with no answers", F->name);

	/* a silent client: the timeout, with what came */
	q.ev = "ask2";
	r = emit_ack("ask2", "r1", 300, &a);
	q.mask = A | B;
	CHECK(!r && spin_until(all_asked, &q, 5000), "[%s] r1's clients are asked", F->name);
	answer(&cl[1], "ask2", "b");
	CHECK(spin_until(one_call, &a, 5000) && a.calls == 1 && a.status == SIOS_ETIMEDOUT &&
		      a.n == 1 && !strcmp(a.answers, "b,"),
	      "[%s] one silent: SIOS_ETIMEDOUT with the one answer", F->name);
	answer(&cl[0], "ask2", "late");
	fence();
	CHECK(a.calls == 1, "[%s] a late answer runs nothing", F->name);
}

/* ---- requests ------------------------------------------------------------ */

struct fetched {
	int calls, status;
	cJSON *sockets;
};

static void on_fetch(int status, const cJSON *sockets, void *ud)
{
	struct fetched *f = ud;

	f->calls++;
	f->status = status;
	cJSON_Delete(f->sockets);
	f->sockets = sockets ? cJSON_Duplicate(sockets, 1) : NULL;
}

static int fetch_calls(void *ud) { return ((struct fetched *)ud)->calls > 0; }

static int fetch(const char *room, struct fetched *f)
{
	sios_scope *sc;
	int r = sios_scope_new(root[0], &sc);

	cJSON_Delete(f->sockets);
	memset(f, 0, sizeof(*f));
	if (!r && room)
		r = sios_scope_to(sc, room);
	if (!r)
		r = sios_scope_fetch_sockets(sc, on_fetch, f);
	sios_scope_free(sc);
	return !r && spin_until(fetch_calls, f, 5000) && f->calls == 1 && f->status == 0;
}

/* which clients a fetch reported: a bit each */
static int fetched_mask(const struct fetched *f)
{
	int mask = 0;
	const cJSON *o;

	cJSON_ArrayForEach(o, f->sockets)
	{
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");

		for (int k = 0; k < NCL; k++)
			if (cJSON_IsString(id) && !strcmp(id->valuestring, cl[k].sid))
				mask |= 1 << k;
	}
	return mask;
}

static int has_room(const struct fetched *f, const char *sid, const char *room)
{
	const cJSON *o, *x;

	cJSON_ArrayForEach(o, f->sockets)
	{
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");

		if (!cJSON_IsString(id) || strcmp(id->valuestring, sid))
			continue;
		cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(o, "rooms"))
		if (cJSON_IsString(x) && !strcmp(x->valuestring, room))
			return 1;
	}
	return 0;
}

static int scope_op(const char *room, int op, const char *arg)
{
	sios_scope *sc;
	int r = sios_scope_new(root[0], &sc);

	if (!r && room)
		r = sios_scope_to(sc, room);
	if (!r)
		r = op == 'j'   ? sios_scope_join(sc, arg)
		    : op == 'l' ? sios_scope_leave(sc, arg)
				: sios_scope_disconnect(sc, 0);
	sios_scope_free(sc);
	return r;
}

struct in_room {
	const char *room;
	int mask;
};

static int room_is(void *ud)
{
	struct in_room *q = ud;
	struct fetched f = {0};
	int ok = fetch(q->room, &f) && fetched_mask(&f) == q->mask;

	cJSON_Delete(f.sockets);
	return ok;
}

static void test_requests(void)
{
	struct fetched f = {0};
	struct in_room q;
	const cJSON *o;

	CHECK(fetch(NULL, &f) && cJSON_GetArraySize(f.sockets) == NCL &&
		      fetched_mask(&f) == (A | B | C | D),
	      "[%s] fetch: every socket of the namespace", F->name);
	o = cJSON_GetArrayItem(f.sockets, 0);
	CHECK(cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(o, "handshake")) &&
		      cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(o, "rooms")),
	      "[%s] each with its handshake and rooms", F->name);
	CHECK(fetch("r1", &f) && fetched_mask(&f) == (A | B) && has_room(&f, cl[0].sid, "r2") &&
		      has_room(&f, cl[0].sid, cl[0].sid),
	      "[%s] fetch of r1: A and B; A's rooms: r2 and its own id", F->name);

	q.room = "r3";
	q.mask = A | C;
	CHECK(scope_op("r2", 'j', "r3") == 0 && spin_until(room_is, &q, 5000),
	      "[%s] to(r2).join(r3): A and C are in r3", F->name);
	q.room = "r1";
	q.mask = 0;
	CHECK(scope_op(NULL, 'l', "r1") == 0 && spin_until(room_is, &q, 5000),
	      "[%s] leave(r1) for all: r1 is empty", F->name);
	CHECK(fetch("r2", &f) && fetched_mask(&f) == (A | C), "[%s] other rooms are untouched",
	      F->name);
	cJSON_Delete(f.sockets);
}

/* ---- server-side events ------------------------------------------------- */

struct sevents {
	int calls[MAXS];
	char last[MAXS][64];
};
static struct sevents sev;

static void on_server_event(sios_nsp *nsp, const char *event, const cJSON *args,
			    sios_server_reply *reply, void *ud)
{
	size_t i = (size_t)(uintptr_t)ud;
	char *s = cJSON_PrintUnformatted(args);

	(void)nsp;
	sev.calls[i]++;
	snprintf(sev.last[i], sizeof(sev.last[i]), "%s%s", event, s ? s : "");
	free(s);
	if (reply && strcmp(event, "mute")) {
		cJSON *ans = cJSON_CreateString(i == 1 ? "one" : "other");

		sios_server_reply_send(reply, ans);
		CHECK(sios_server_reply_send(reply, ans) == SIOS_EMISUSE,
		      "[%s] a second answer is SIOS_EMISUSE", F->name);
		cJSON_Delete(ans);
	}
}

struct answers {
	int calls, status;
	cJSON *v;
};

static void on_answers(int status, const cJSON *responses, void *ud)
{
	struct answers *a = ud;

	a->calls++;
	a->status = status;
	cJSON_Delete(a->v);
	a->v = responses ? cJSON_Duplicate(responses, 1) : NULL;
}

static void in_reply(const cJSON *answer, void *ud)
{
	struct answers *a = ud;

	a->calls++;
	cJSON_Delete(a->v);
	a->v = answer ? cJSON_Duplicate(answer, 1) : cJSON_CreateNull();
}

static int answers_in(void *ud) { return ((struct answers *)ud)->calls > 0; }

struct others {
	const char *want;
};

static int others_got(void *ud)
{
	struct others *o = ud;

	for (size_t i = 1; i < F->nservers; i++)
		if (strcmp(sev.last[i], o->want))
			return 0;
	return 1;
}

static void test_server_side(void)
{
	cJSON *args = cJSON_CreateArray();
	struct answers a = {0};
	struct others o = {"hello[1,\"x\"]"};
	int r, others_ok = 1;

	for (size_t i = 0; i < F->nservers; i++)
		sios_nsp_server_event_callback_set(root[i], on_server_event, (void *)(uintptr_t)i);
	cJSON_AddItemToArray(args, cJSON_CreateNumber(1));
	cJSON_AddItemToArray(args, cJSON_CreateString("x"));
	r = sios_server_side_emit(root[0], "hello", args);
	CHECK(r == 0 && spin_until(others_got, &o, 5000), "[%s] server-side emit reaches the %zu other servers",
	      F->name, F->nservers - 1);
	fence();
	for (size_t i = 1; i < F->nservers; i++)
		others_ok &= sev.calls[i] == 1;
	CHECK(sev.calls[0] == 0 && others_ok, "[%s] ... once each, not the sender", F->name);

	r = sios_server_side_emit_with_ack(root[0], "ping", args, 2000, on_answers, &a);
	CHECK(r == 0 && spin_until(answers_in, &a, 5000) && a.calls == 1 && a.status == 0 &&
		      cJSON_GetArraySize(a.v) == (int)F->nservers - 1,
	      "[%s] with ack: status 0 and one answer per other server (%d)", F->name,
	      cJSON_GetArraySize(a.v));
	a.calls = 0;
	r = sios_server_side_emit_with_ack(root[0], "mute", NULL, 2000, on_answers, &a);
	CHECK(r == 0 && spin_until(answers_in, &a, 5000) && a.calls == 1 && a.status == 0,
	      "[%s] to handlers that do not answer: status 0", F->name);
	{
		int nulls = 1;
		const cJSON *x;

		cJSON_ArrayForEach(x, a.v) nulls &= cJSON_IsNull(x);
		CHECK(nulls && cJSON_GetArraySize(a.v) == (int)F->nservers - 1,
		      "[%s] ... answers null", F->name);
	}
	{
		/* what an adapter does with one that comes in */
		cJSON *data = cJSON_Parse("[\"in\",{\"k\":1}]");
		struct answers in = {0};
		int before = sev.calls[1 % F->nservers];

		sios__server_event_in(root[1 % F->nservers], data, in_reply, &in);
		CHECK(sev.calls[1 % F->nservers] == before + 1 &&
			      !strcmp(sev.last[1 % F->nservers], "in[{\"k\":1}]"),
		      "[%s] an event in: the handler runs with its name and arguments", F->name);
		CHECK(in.calls == 1 && cJSON_IsString(in.v), "[%s] ... and its answer goes back once",
		      F->name);
		cJSON_Delete(in.v);
		in.v = NULL;
		in.calls = 0;
		sios__server_event_in(root[1 % F->nservers], data, NULL, NULL);
		cJSON_SetValuestring(cJSON_GetArrayItem(data, 0), "mute");
		sios__server_event_in(root[1 % F->nservers], data, in_reply, &in);
		CHECK(in.calls == 1 && cJSON_IsNull(in.v),
		      "[%s] no answer wanted: none; none given: null, once", F->name);
		cJSON_Delete(in.v);
		cJSON_Delete(data);
	}
	CHECK(sios_server_side_emit(root[0], "connect", NULL) == SIOS_EINVAL &&
		      sios_server_side_emit(root[0], "x", cJSON_GetArrayItem(args, 0)) == SIOS_EINVAL &&
		      sios_server_side_emit_with_ack(root[0], "x", NULL, 0, NULL, NULL) == SIOS_EINVAL,
	      "[%s] a reserved name, arguments not an array, no callback: SIOS_EINVAL", F->name);
	cJSON_Delete(a.v);
	cJSON_Delete(args);
}

struct counted {
	int calls, status;
	size_t n;
};

static void on_count(int status, size_t n, void *ud)
{
	struct counted *c = ud;

	c->calls++;
	c->status = status;
	c->n = n;
}

static int counted_in(void *ud) { return ((struct counted *)ud)->calls > 0; }

static int list_has(const cJSON *v, const char *s)
{
	const cJSON *x;

	cJSON_ArrayForEach(x, v) if (cJSON_IsString(x) && !strcmp(x->valuestring, s)) return 1;
	return 0;
}

static void test_cluster_info(void)
{
	struct counted c = {0};
	struct answers rooms = {0};
	int r;

	r = sios_nsp_server_count(root[0], on_count, &c);
	CHECK(r == 0 && spin_until(counted_in, &c, 5000) && c.status == 0 && c.n == F->nservers,
	      "[%s] server count: %zu", F->name, c.n);
	r = sios_nsp_all_rooms(root[0], 2000, on_answers, &rooms);
	CHECK(r == 0 && spin_until(answers_in, &rooms, 5000) && rooms.status == 0 &&
		      list_has(rooms.v, "r2") && list_has(rooms.v, "r3") &&
		      list_has(rooms.v, cl[NCL - 1].sid) && !list_has(rooms.v, "r1"),
	      "[%s] all rooms: r2, r3, socket ids, not the emptied r1", F->name);
	{
		/* no repeats across servers */
		int dup = 0;

		for (int i = 0; i < cJSON_GetArraySize(rooms.v); i++)
			for (int j = i + 1; j < cJSON_GetArraySize(rooms.v); j++)
				dup |= !strcmp(cJSON_GetArrayItem(rooms.v, i)->valuestring,
					       cJSON_GetArrayItem(rooms.v, j)->valuestring);
		CHECK(!dup, "[%s] ... each once", F->name);
	}
	cJSON_Delete(rooms.v);
}

/* ---- connection state recovery ------------------------------------------ */

struct restored {
	int calls, status, found;
	char sid[SIOS__ID_LEN + 1];
	size_t nrooms, nmissed;
	char missed[256];
};

static void on_restore(int status, const sios__session_state *st, sios__frame *const *missed,
		       size_t n, void *ud)
{
	struct restored *x = ud;

	memset(x, 0, sizeof(*x));
	x->calls = 1;
	x->status = status;
	x->found = st != NULL;
	if (st) {
		strcpy(x->sid, st->sid);
		x->nrooms = st->nrooms;
	}
	x->nmissed = n;
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(x->missed), m = missed[i]->head->len;

		if (l + m + 2 < sizeof(x->missed)) {
			memcpy(x->missed + l, missed[i]->head->data, m);
			x->missed[l + m] = '|';
			x->missed[l + m + 1] = 0;
		}
	}
}

static int restore(const char *pid, const char *offset, struct restored *x)
{
	sios__adapter *ad = root[0]->adapter;

	memset(x, 0, sizeof(*x));
	return ad->ops->restore_session(ad, pid, offset, on_restore, x) == 0 &&
	       spin_until(one_call, x, 5000);
}

/* the offset a client's last "ev" message carried: its last argument */
static int offset_of(client *c, const char *ev, char *out, size_t cap)
{
	char prefix[40];
	int ok = 0;

	pump(c);
	snprintf(prefix, sizeof(prefix), "42[\"%s\"", ev);
	for (size_t i = 0; i < c->nmsgs; i++) {
		cJSON *v, *last;

		if (strncmp(c->msgs[i], prefix, strlen(prefix)))
			continue;
		v = cJSON_Parse(c->msgs[i] + 2);
		last = cJSON_GetArrayItem(v, cJSON_GetArraySize(v) - 1);
		if (cJSON_GetArraySize(v) >= 2 && cJSON_IsString(last)) {
			snprintf(out, cap, "%s", last->valuestring);
			ok = 1;
		}
		cJSON_Delete(v);
	}
	return ok;
}

static void test_recovery(void)
{
	sios__adapter *ad = root[0]->adapter;
	char *rooms[] = {"gone-sid", "r2"};
	sios__session_state st;
	struct restored x;
	char off[64];
	cJSON *one = cJSON_CreateArray();

	cJSON_AddItemToArray(one, cJSON_CreateNumber(7));
	sios_room_emit(root[0], NULL, "mark", one, NULL, 0);
	fence();
	if (!F->recovery_ms) {
		/* no recovery: packets carry no offset, nothing is kept */
		CHECK(count(&cl[0], "42[\"mark\",7]") == 1, "[%s] no offset without recovery",
		      F->name);
		cJSON_Delete(one);
		return;
	}
	CHECK(offset_of(&cl[0], "mark", off, sizeof(off)) && count(&cl[0], "42[\"mark\",7,\"") == 1,
	      "[%s] a broadcast carries its offset as the last argument (%s)", F->name, off);

	memset(&st, 0, sizeof(st));
	strcpy(st.pid, "the-private-id");
	strcpy(st.sid, "gone-sid");
	st.rooms = rooms;
	st.nrooms = 2;
	st.gone_at = sios__wall_ms();
	CHECK(ad->ops->persist_session(ad, &st) == 0, "[%s] a session persists", F->name);
	rooms[1] = "changed"; /* the adapter kept its own copy */

	sios_room_emit(root[0], "r2", "m_r2", NULL, NULL, 0);
	sios_room_emit(root[0], "r3", "m_r3", NULL, NULL, 0);
	scope_emit("m_but_r2", NULL, (const char *[]){"r2", NULL}, -1, 0);
	sios_room_emit(root[0], NULL, "m_all", NULL, NULL, 0);
	{
		sios_scope *sc;

		sios_scope_new(root[0], &sc);
		sios_scope_set_flags(sc, SIOS_SCOPE_VOLATILE);
		sios_scope_emit(sc, "m_volatile", NULL, NULL, 0);
		sios_scope_free(sc);
	}
	fence();

	CHECK(restore("the-private-id", off, &x) && x.found && !strcmp(x.sid, "gone-sid") &&
		      x.nrooms == 2,
	      "[%s] restore: the session, its id and rooms", F->name);
	CHECK(x.nmissed >= 2 && strstr(x.missed, "[\"m_r2\"") && strstr(x.missed, "[\"m_all\"") &&
		      !strstr(x.missed, "m_r3") && !strstr(x.missed, "m_but_r2") &&
		      !strstr(x.missed, "m_volatile") && !strstr(x.missed, "\"mark\""),
	      "[%s] missed: what its rooms were sent after the offset, not volatile (%s)",
	      F->name, x.missed);
	{
		char *p1 = strstr(x.missed, "m_r2"), *p2 = strstr(x.missed, "m_all");

		CHECK(p1 && p2 && p1 < p2, "[%s] ... in order", F->name);
	}
	CHECK(restore("the-private-id", off, &x) && !x.found, "[%s] a session restores once",
	      F->name);
	CHECK(restore("unknown", off, &x) && !x.found, "[%s] an unknown id: nothing", F->name);
	st.rooms = rooms;
	ad->ops->persist_session(ad, &st);
	CHECK(restore("the-private-id", "no-such-offset", &x) && !x.found,
	      "[%s] an offset no longer known: nothing", F->name);
	st.gone_at = sios__wall_ms() - F->recovery_ms - 1;
	ad->ops->persist_session(ad, &st);
	CHECK(restore("the-private-id", off, &x) && !x.found, "[%s] an expired session: nothing",
	      F->name);
	cJSON_Delete(one);
}

/* ---- disconnect, and what a server's end completes --------------------- */

static int nsp_empty_of(void *ud)
{
	int mask = *(int *)ud;

	for (int k = 0; k < NCL; k++)
		if ((mask & 1 << k) && sock_of(&cl[k]))
			return 0;
	return 1;
}

static void test_disconnect(void)
{
	int mask = A | C;

	CHECK(scope_op("r3", 'd', NULL) == 0 && spin_until(nsp_empty_of, &mask, 5000),
	      "[%s] to(r3).disconnect(): A and C leave the namespace", F->name);
	CHECK(count(&cl[0], "41") == 1 && count(&cl[2], "41") == 1 && count(&cl[1], "41") == 0,
	      "[%s] ... each told with a DISCONNECT packet, B not", F->name);
	CHECK(sock_of(&cl[1]) && sock_of(&cl[3]), "[%s] B and D stay", F->name);
}

static void test_end(void)
{
	struct acks a;
	struct fetched f = {0};
	sios_scope *sc;
	int r;

	/* a broadcast still waiting for answers when the servers go */
	r = emit_ack("never", NULL, 0, &a);
	CHECK(!r && a.calls == 0, "[%s] an ack without timeout is pending", F->name);
	sios_scope_new(root[0], &sc);
	r = sios_scope_fetch_sockets(sc, on_fetch, &f);
	sios_scope_free(sc);
	for (int k = 0; k < NCL; k++)
		forget(&cl[k]);
	for (size_t i = 0; i < F->nservers; i++) {
		sios_server_free(srv[i]);
		srv[i] = NULL;
	}
	uv_run(&loop, UV_RUN_NOWAIT);
	CHECK(a.calls == 1 && a.status == 0 && a.n == 0,
	      "[%s] freeing the servers completes it once: its recipients are gone", F->name);
	CHECK(!r && f.calls == 1 && (f.status == 0 || f.status == SIOS_ECLOSED),
	      "[%s] a request in flight completes once (status %d)", F->name, f.status);
	cJSON_Delete(f.sockets);
}

/* ---- the fixture's run --------------------------------------------------- */

static int up(const fixture *f)
{
	memset(srv, 0, sizeof(srv));
	memset(&sev, 0, sizeof(sev));
	for (size_t i = 0; i < f->nservers; i++) {
		sios_config *cfg;
		int r;

		if (sios_config_new(&cfg) || sios_config_set_host(cfg, "127.0.0.1") ||
		    sios_config_set_port(cfg, 0) || sios_config_set_uv_loop(cfg, &loop))
			return -1;
		r = sios__server_new(cfg, f->kind(f, i), &srv[i]);
		sios_config_free(cfg);
		if (r || sios_of(srv[i], "/", &root[i]))
			return -1;
	}
	for (int k = 0; k < NCL; k++)
		if (open_client(&cl[k], (size_t)k % f->nservers))
			return -1;
	return 0;
}

static void run(const fixture *f)
{
	F = f;
	CHECK(up(f) == 0, "[%s] %zu server(s) and %d clients up", f->name, f->nservers, NCL);
	if (!srv[f->nservers - 1])
		return;
	test_broadcast();
	test_broadcast_acks();
	test_requests();
	test_server_side();
	test_cluster_info();
	test_recovery();
	test_disconnect();
	test_end();
}

static sios__adapter_kind memory_kind(const fixture *f, size_t idx)
{
	(void)idx;
	return sios__adapter_memory(f->recovery_ms);
}

#if SIOS_WITH_REDIS
static char redis_url[64];
static pid_t redis_pid;

static sios__adapter_kind redis_kind(const fixture *f, size_t idx)
{
	sios__adapter_kind k;

	(void)idx;
	if (sios__adapter_redis(redis_url, "sios-contract", 0, f->recovery_ms, &k))
		abort();
	return k;
}

/* a private redis-server on a free loopback port; ready once it says so */
static int redis_start(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0), pipefd[2], port;
	char buf[4096], portstr[16];
	size_t have = 0;
	ssize_t n;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len))
		return -1;
	port = ntohs(sa.sin_port);
	close(fd);
	snprintf(portstr, sizeof(portstr), "%d", port);
	if (pipe(pipefd))
		return -1;
	if ((redis_pid = fork()) == 0) {
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		execlp("redis-server", "redis-server", "--port", portstr, "--bind", "127.0.0.1",
		       "--save", "", "--appendonly", "no", (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	while (have < sizeof(buf) - 1 && (n = read(pipefd[0], buf + have, sizeof(buf) - 1 - have)) > 0) {
		have += (size_t)n;
		buf[have] = 0;
		if (strstr(buf, "Ready to accept connections"))
			break;
	}
	close(pipefd[0]);
	snprintf(redis_url, sizeof(redis_url), "redis://127.0.0.1:%d", port);
	return strstr(buf, "Ready to accept connections") ? 0 : -1;
}

static void redis_stop(void)
{
	if (redis_pid > 0) {
		kill(redis_pid, SIGKILL);
		waitpid(redis_pid, NULL, 0);
	}
}
#endif

/* ---- the tracker alone ---------------------------------------------------- */

static void test_tracker(void)
{
	sios_config *cfg;
	sios_server *s;
	struct sios__bcast_ack *b;
	struct acks a;
	cJSON *args = cJSON_CreateArray();
	sios_binary bin = {"\x01\x02", 2};

	cJSON_AddItemToArray(args, cJSON_CreateString("r"));
	if (sios_config_new(&cfg) || sios_config_set_host(cfg, "127.0.0.1") ||
	    sios_config_set_port(cfg, 0) || sios_config_set_uv_loop(cfg, &loop) ||
	    sios__server_new(cfg, sios__adapter_memory(0), &s))
		abort();
	sios_config_free(cfg);

	memset(&a, 0, sizeof(a));
	b = sios__bcast_ack_new(s, on_acks, &a, 0);
	sios__bcast_ack_servers(b, 3);
	sios__bcast_ack_count(b, 2);
	sios__bcast_ack_answer(b, args, NULL, 0);
	sios__bcast_ack_count(b, 1);
	sios__bcast_ack_answer(b, args, &bin, 1);
	CHECK(a.calls == 0 && !sios__bcast_ack_done(b),
	      "tracker: two of three servers reported, two answers of three: waiting");
	sios__bcast_ack_ref(b); /* as an adapter holding it would */
	sios__bcast_ack_count(b, 0);
	CHECK(a.calls == 0, "tracker: three reports (2+1+0 clients), two answers: waiting");
	sios__bcast_ack_answer(b, args, NULL, 0);
	CHECK(a.calls == 1 && a.status == 0 && a.n == 3 && sios__bcast_ack_done(b),
	      "tracker: the third answer completes it, with the three");
	sios__bcast_ack_answer(b, args, NULL, 0);
	sios__bcast_ack_count(b, 5);
	CHECK(a.calls == 1, "tracker: later counts and answers are dropped");
	sios__bcast_ack_unref(b);

	memset(&a, 0, sizeof(a));
	b = sios__bcast_ack_new(s, on_acks, &a, 0);
	sios__bcast_ack_answer(b, args, NULL, 0);
	sios__bcast_ack_count(b, 1);
	sios__bcast_ack_count(b, 0);
	CHECK(a.calls == 0, "tracker: answers and counts before the number of servers: waiting");
	sios__bcast_ack_servers(b, 2);
	CHECK(a.calls == 1 && a.status == 0 && a.n == 1,
	      "tracker: the number of servers completes it");

	memset(&a, 0, sizeof(a));
	b = sios__bcast_ack_new(s, on_acks, &a, 60);
	sios__bcast_ack_servers(b, 2);
	sios__bcast_ack_count(b, 3);
	sios__bcast_ack_answer(b, args, NULL, 0);
	CHECK(spin_until(one_call, &a, 5000) && a.status == SIOS_ETIMEDOUT && a.n == 1,
	      "tracker: a server that never reports: the timeout, with the answer that came");

	memset(&a, 0, sizeof(a));
	b = sios__bcast_ack_new(s, on_acks, &a, 60);
	sios__bcast_ack_cancel(b);
	spin_until(one_call, &a, 150);
	CHECK(a.calls == 0, "tracker: a cancelled tracker never calls back");

	cJSON_Delete(args);
	sios_server_free(s);
	uv_run(&loop, UV_RUN_NOWAIT);
}

int main(void)
{
	static const fixture fixtures[] = {
		{"memory", 1, 0, memory_kind},
		{"memory+recovery", 1, 120000, memory_kind},
	};

	sios_log_callback_set(0, NULL, NULL); /* quiet */
	uv_loop_init(&loop);
	test_tracker();
	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++)
		run(&fixtures[i]);
#if SIOS_WITH_REDIS
	{
		static const fixture redis = {"redis", 3, 0, redis_kind};
		int up = redis_start() == 0;

		CHECK(up, "a private redis-server runs (%s)", redis_url);
		if (up)
			run(&redis);
		redis_stop();
	}
#endif
	while (uv_run(&loop, UV_RUN_NOWAIT))
		;
	CHECK(uv_loop_close(&loop) == 0, "the loop closes: nothing left on it");
	return DONE();
}
