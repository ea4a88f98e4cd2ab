/* Presence in Redis, for a cluster: the layout of the hand-written pattern
 * so an application still running it reads the same data,
 *
 *   user:<id>:sockets  a set of socket ids
 *   presence           a hash: user id -> {"status", "lastSeen"?} (JSON)
 *   user:<id>:friends  the user's friends (JSON array), for crash sweeps
 *
 * and, for crash safety, per server (uid) and namespace:
 *
 *   sios:presence:<nsp>:servers        the servers that count sockets
 *   sios:presence:<nsp>:server:<uid>   its heartbeat (expires after the TTL)
 *   sios:presence:<nsp>:server:<uid>:sockets   "sid\tuser" of its sockets
 *
 * Every transition is one Lua script, so of two servers counting the same
 * user at once exactly one sees the first socket arrive, and exactly one
 * the last leave. Each server refreshes its heartbeat every third of the
 * TTL and sweeps the servers whose heartbeat expired: the sweep script
 * takes a dead server out of the set first, so one survivor alone sweeps
 * it, and answers the users who went offline. Changes are published on
 * sios-presence#<nsp> for the other servers' change callbacks. The
 * connections are the server's own (lib/redis), shared with its adapter. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "presence_int.h"

#if SIOS_WITH_REDIS
#include <hiredis/hiredis.h>

#include "redis/redis.h"

enum { OP_ADD, OP_REMOVE, OP_OFFLINE, OP_STATUS, OP_QUERY, OP_SWEEP, OP_SERVERS, OP_FIRE,
       OP_RESTORE, OP_BEAT, OP_ONLINE };

/* JSON state of a user, read in Lua; "online" is any status but offline */
#define LUA_ONLINE                                                                           \
	"local function online(k, u) local c = redis.call('HGET', k, u) "                  \
	"if not c then return false end "                                                    \
	"local ok, v = pcall(cjson.decode, c) "                                              \
	"return ok and type(v) == 'table' and v.status ~= nil and v.status ~= 'offline' end "

/* KEYS sockets, presence, server sockets; ARGV sid, user, member. 0: the
 * user was online already; 1: it is now, and Redis had no entry for it
 * (never seen, or Redis restarted empty); 2: it is now, from offline */
static const char ADD[] = LUA_ONLINE
	"redis.call('SADD', KEYS[1], ARGV[1]) redis.call('SADD', KEYS[3], ARGV[3]) "
	"if online(KEYS[2], ARGV[2]) then return 0 end "
	"local had = redis.call('HEXISTS', KEYS[2], ARGV[2]) "
	"redis.call('HSET', KEYS[2], ARGV[2], cjson.encode({status='online'})) "
	"return had == 1 and 2 or 1";

/* KEYS sockets, presence, server sockets; ARGV sid, user, member, grace,
 * now. No grace: 1 when this was the last socket (the user is offline
 * now); with grace: 1 when no socket is left (offline may follow), and
 * the member stays in this server's record until then, so a crash in the
 * grace period still leaves the user to the sweep */
static const char REMOVE[] = LUA_ONLINE
	"redis.call('SREM', KEYS[1], ARGV[1]) "
	"if ARGV[4] ~= '1' then redis.call('SREM', KEYS[3], ARGV[3]) end "
	"if redis.call('SCARD', KEYS[1]) ~= 0 or not online(KEYS[2], ARGV[2]) then "
	"  redis.call('SREM', KEYS[3], ARGV[3]) return 0 end "
	"if ARGV[4] == '1' then return 1 end "
	"redis.call('HSET', KEYS[2], ARGV[2], "
	"cjson.encode({status='offline', lastSeen=tonumber(ARGV[5])})) return 1";

/* the grace period is over: KEYS sockets, presence, server sockets; ARGV
 * user, when, member */
static const char OFFLINE[] = LUA_ONLINE
	"redis.call('SREM', KEYS[3], ARGV[3]) "
	"if redis.call('SCARD', KEYS[1]) ~= 0 or not online(KEYS[2], ARGV[1]) then return 0 end "
	"redis.call('HSET', KEYS[2], ARGV[1], "
	"cjson.encode({status='offline', lastSeen=tonumber(ARGV[2])})) return 1";

/* the heartbeat: KEYS servers, heartbeat; ARGV uid, ttl. 0 when this
 * server was no longer among the servers (swept after a stall, or Redis
 * restarted empty) */
static const char BEAT[] =
	"local was = redis.call('SISMEMBER', KEYS[1], ARGV[1]) "
	"redis.call('SADD', KEYS[1], ARGV[1]) "
	"redis.call('SET', KEYS[2], '1', 'EX', tonumber(ARGV[2])) return was";

/* KEYS presence; ARGV user, status */
static const char STATUS[] = LUA_ONLINE
	"if not online(KEYS[1], ARGV[1]) then return 0 end "
	"local ok, v = pcall(cjson.decode, redis.call('HGET', KEYS[1], ARGV[1])) "
	"if ok and type(v) == 'table' and v.status == ARGV[2] then return 0 end "
	"redis.call('HSET', KEYS[1], ARGV[1], cjson.encode({status=ARGV[2]})) return 1";

/* KEYS servers, heartbeat, server sockets, presence; ARGV uid, now. The
 * users the dead server left offline, with their friends (JSON or nil) */
static const char SWEEP[] = LUA_ONLINE
	"if redis.call('EXISTS', KEYS[2]) == 1 then return {} end "
	"if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return {} end "
	"local gone = {} "
	"for _, m in ipairs(redis.call('SMEMBERS', KEYS[3])) do "
	"  local t = string.find(m, '\\t', 1, true) "
	"  if t then "
	"    local sid, u = string.sub(m, 1, t - 1), string.sub(m, t + 1) "
	"    local k = 'user:' .. u .. ':sockets' "
	"    redis.call('SREM', k, sid) "
	"    if redis.call('SCARD', k) == 0 and online(KEYS[4], u) then "
	"      redis.call('HSET', KEYS[4], u, "
	"        cjson.encode({status='offline', lastSeen=tonumber(ARGV[2])})) "
	"      table.insert(gone, u) "
	"      table.insert(gone, redis.call('GET', 'user:' .. u .. ':friends') or '') "
	"    end "
	"  end "
	"end "
	"redis.call('DEL', KEYS[3]) return gone";

struct sios__redis *sios__pr_conn(sios_presence *p)
{
	sios__adapter_kind *k = &p->srv->adapters;

	return k->ctx_redis ? k->ctx_redis(k->ctx) : NULL;
}

/* ---- requests in flight ---------------------------------------------------- */

static struct pop *op_new(sios_presence *p, int kind, const char *user, const char *sid,
			  uint64_t when)
{
	struct pop *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->p = p;
	o->kind = kind;
	if (user)
		snprintf(o->user, sizeof(o->user), "%s", user);
	if (sid)
		memcpy(o->sid, sid, sizeof(o->sid));
	o->when = when;
	o->next = p->ops;
	if (p->ops)
		p->ops->prev = o;
	p->ops = o;
	return o;
}

static void op_free(struct pop *o)
{
	if (o->p) {
		if (o->prev)
			o->prev->next = o->next;
		else
			o->p->ops = o->next;
		if (o->next)
			o->next->prev = o->prev;
	}
	for (size_t i = 0; i < o->nusers; i++)
		free(o->users[i]);
	free(o->users);
	free(o);
}

static void on_reply(void *ud, int status, const redisReply *rep);
static void on_servers(sios_presence *p, int status, const redisReply *rep);
static void restore(sios_presence *p);

/* a heartbeat (and a look for dead servers) every third of the TTL, at
 * most 5 s apart: a dead server's users are offline within TTL + 5 s */
static unsigned beat_ms(const sios_presence *p)
{
	unsigned third = p->ttl_s * 1000u / 3;

	return third < 5000 ? third : 5000;
}

static int send_argv(sios_presence *p, struct pop *o, int argc, const char **argv)
{
	struct sios__redis *r = sios__pr_conn(p);
	size_t lens[16];
	int rc;

	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	rc = r ? sios__redis_command_argv(r, on_reply, o, argc, argv, lens) : SIOS_EIO;
	if (rc)
		op_free(o);
	return rc;
}

static void keys_of(sios_presence *p, const char *user, char *sockets, size_t sn,
		    char *server_sockets, size_t ssn)
{
	snprintf(sockets, sn, "user:%s:sockets", user);
	snprintf(server_sockets, ssn, "sios:presence:%s:server:%s:sockets",
		 sios__nsp_name(p->nsp), p->uid);
}

/* ---- the operations -------------------------------------------------------- */

static int send_add(sios_presence *p, struct psock *ps, int kind)
{
	char k1[320], k3[320], member[320];
	struct pop *o = op_new(p, kind, ps->u->id, ps->sid, 0);
	const char *argv[] = {"EVAL", ADD, "3", k1, "presence", k3, ps->sid, ps->u->id, member};

	if (!o)
		return SIOS_ENOMEM;
	keys_of(p, ps->u->id, k1, sizeof(k1), k3, sizeof(k3));
	snprintf(member, sizeof(member), "%s\t%s", ps->sid, ps->u->id);
	return send_argv(p, o, 9, argv);
}

int sios__pr_add(sios_presence *p, struct psock *ps)
{
	if (send_add(p, ps, OP_ADD)) {
		sios__log_limited(SIOS__LOG_WARN, "presence: Redis is down; %s is counted when it "
				  "is back", ps->u->id);
		return 0; /* connects now; counted when Redis is back */
	}
	return 1;
}

/* a departure Redis did not hear: kept (bounded) for when it is back */
static void keep_gone(sios_presence *p, const char *user, const char *sid, uint64_t when,
		      int grace)
{
	struct pgone *g;

	if (p->ngone >= 100000 || !(g = calloc(1, sizeof(*g)))) {
		sios__log_limited(SIOS__LOG_WARN, "presence: %s left while Redis was away and "
				  "cannot be remembered", user);
		return;
	}
	snprintf(g->user, sizeof(g->user), "%s", user);
	memcpy(g->sid, sid, sizeof(g->sid));
	g->when = when;
	g->grace = grace;
	if (p->gone_tail)
		p->gone_tail->next = g;
	else
		p->gone_head = g;
	p->gone_tail = g;
	p->ngone++;
}

void sios__pr_remove(sios_presence *p, const char *user, const char *sid, uint64_t when)
{
	char k1[320], k3[320], member[320], now[24];
	struct pop *o = op_new(p, OP_REMOVE, user, sid, when);
	const char *argv[] = {"EVAL", REMOVE, "3", k1, "presence", k3, sid, user, member,
			      p->grace_ms ? "1" : "0", now};

	if (!o) {
		keep_gone(p, user, sid, when, 0);
		return;
	}
	keys_of(p, user, k1, sizeof(k1), k3, sizeof(k3));
	snprintf(member, sizeof(member), "%s\t%s", sid, user);
	snprintf(now, sizeof(now), "%llu", (unsigned long long)when);
	if (send_argv(p, o, 11, argv))
		keep_gone(p, user, sid, when, 0);
}

void sios__pr_offline_if_empty(sios_presence *p, const char *user, uint64_t when)
{
	char k1[320], k3[320], now[24], member[320];
	struct pop *o = op_new(p, OP_OFFLINE, user, NULL, when);
	struct puser *u = sios__presence_user(p, user, 0);
	const char *argv[] = {"EVAL", OFFLINE, "3", k1, "presence", k3, user, now, member};

	if (!o)
		return;
	keys_of(p, user, k1, sizeof(k1), k3, sizeof(k3));
	snprintf(now, sizeof(now), "%llu", (unsigned long long)when);
	/* the member the grace period kept: the last socket's */
	snprintf(member, sizeof(member), "%s\t%s", u ? u->last_sid : "", user);
	if (send_argv(p, o, 9, argv))
		keep_gone(p, user, u ? u->last_sid : "", when, 1);
}

int sios__pr_set_status(sios_presence *p, const char *user, const char *status)
{
	struct pop *o = op_new(p, OP_STATUS, user, NULL, 0);
	const char *argv[] = {"EVAL", STATUS, "1", "presence", user, status};

	if (!o)
		return SIOS_ENOMEM;
	o->users = malloc(sizeof(*o->users));
	if (!o->users || !(o->users[0] = sios__strdup(status))) {
		op_free(o);
		return SIOS_ENOMEM;
	}
	o->nusers = 1;
	return send_argv(p, o, 6, argv);
}

void sios__pr_set_friends(sios_presence *p, const char *user, char *const *friends, size_t n)
{
	cJSON *arr = cJSON_CreateArray();
	char key[320], *json;
	struct pop *o;

	for (size_t i = 0; arr && i < n; i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(friends[i]));
	json = arr ? cJSON_PrintUnformatted(arr) : NULL;
	cJSON_Delete(arr);
	if (json && (o = op_new(p, OP_FIRE, user, NULL, 0))) {
		const char *argv[] = {"SET", key, json};

		snprintf(key, sizeof(key), "user:%s:friends", user);
		send_argv(p, o, 3, argv);
	}
	free(json);
}

int sios__pr_query(sios_presence *p, const char *const *users, size_t n,
		   sios_presence_query_cb cb, void *ud)
{
	struct sios__redis *r = sios__pr_conn(p);
	const char **argv;
	size_t *lens;
	struct pop *o;
	int rc;

	if (!r)
		return SIOS_EIO;
	for (size_t i = 0; i < n; i++)
		if (!users[i])
			return SIOS_EINVAL;
	if (!n) {
		cJSON *none = cJSON_CreateArray();

		if (!none)
			return SIOS_ENOMEM;
		cb(0, none, ud);
		cJSON_Delete(none);
		return 0;
	}
	if (!(o = op_new(p, OP_QUERY, NULL, NULL, 0)))
		return SIOS_ENOMEM;
	o->qcb = cb;
	o->qud = ud;
	argv = malloc((n + 2) * sizeof(*argv));
	lens = malloc((n + 2) * sizeof(*lens));
	o->users = calloc(n, sizeof(*o->users));
	if (!argv || !lens || !o->users) {
		free(argv);
		free(lens);
		op_free(o);
		return SIOS_ENOMEM;
	}
	o->nusers = n;
	argv[0] = "HMGET";
	argv[1] = "presence";
	lens[0] = 5;
	lens[1] = 8;
	for (size_t i = 0; i < n; i++) {
		if (!(o->users[i] = sios__strdup(users[i]))) {
			free(argv);
			free(lens);
			op_free(o);
			return SIOS_ENOMEM;
		}
		argv[i + 2] = users[i];
		lens[i + 2] = strlen(users[i]);
	}
	/* one round trip for all of them */
	rc = sios__redis_command_argv(r, on_reply, o, (int)n + 2, argv, lens);
	free(argv);
	free(lens);
	if (rc)
		op_free(o);
	return rc;
}

int sios__pr_online(sios_presence *p, const char *user, sios__online_fn done, void *ud)
{
	struct pop *o = op_new(p, OP_ONLINE, user, NULL, 0);
	const char *argv[] = {"HGET", "presence", user};

	if (!o)
		return SIOS_ENOMEM;
	o->ofn = done;
	o->qud = ud;
	return send_argv(p, o, 3, argv);
}

/* ---- replies --------------------------------------------------------------- */

static cJSON *state_of(const char *user, const redisReply *v)
{
	cJSON *o = cJSON_CreateObject(), *st = NULL;
	const cJSON *s, *ls;

	if (v && v->type == REDIS_REPLY_STRING)
		st = cJSON_ParseWithLength(v->str, v->len);
	s = cJSON_GetObjectItemCaseSensitive(st, "status");
	ls = cJSON_GetObjectItemCaseSensitive(st, "lastSeen");
	if (o) {
		cJSON_AddStringToObject(o, "userId", user);
		cJSON_AddStringToObject(o, "status", cJSON_IsString(s) ? s->valuestring : "offline");
		if (cJSON_IsString(s) && !strcmp(s->valuestring, "offline") && cJSON_IsNumber(ls))
			cJSON_AddNumberToObject(o, "lastSeen", ls->valuedouble);
	}
	cJSON_Delete(st);
	return o;
}

static void swept(sios_presence *p, const redisReply *rep, uint64_t now)
{
	/* [user, friends-json, user, friends-json, ...] */
	for (size_t i = 0; i + 1 < rep->elements; i += 2) {
		const redisReply *u = rep->element[i], *f = rep->element[i + 1];
		cJSON *arr = f->type == REDIS_REPLY_STRING ? cJSON_ParseWithLength(f->str, f->len)
							   : NULL;
		char *friends[256];
		size_t n = 0;
		const cJSON *it;

		if (u->type != REDIS_REPLY_STRING)
			continue;
		cJSON_ArrayForEach(it, arr)
			if (cJSON_IsString(it) && n < 256)
				friends[n++] = it->valuestring;
		sios__presence_announce(p, u->str, "offline", now, 0);
		sios__presence_tell(p, u->str, "offline", now, friends, n);
		cJSON_Delete(arr);
	}
}

static void on_reply(void *ud, int status, const redisReply *rep)
{
	struct pop *o = ud;
	sios_presence *p = o->p;
	int yes = !status && rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1;
	struct psock *ps;
	struct puser *u;
	long long n;

	if (!p) { /* the tracker went meanwhile */
		op_free(o);
		return;
	}
	if (!status && rep && rep->type == REDIS_REPLY_ERROR)
		sios__log_limited(SIOS__LOG_WARN, "presence: Redis refused: %s", rep->str);
	sios__core_enter(p->srv);
	switch (o->kind) {
	case OP_ADD:
	case OP_RESTORE:
		ps = sios__map_get(&p->socks, o->sid);
		n = !status && rep && rep->type == REDIS_REPLY_INTEGER ? rep->integer : -1;
		/* a socket counted again after Redis came back announces only
		 * a user Redis had offline; one never counted, any newcomer */
		if (n == 2 || (n == 1 && (o->kind == OP_ADD || (ps && !ps->counted))))
			sios__presence_announce(p, o->user, "online", 0, 1);
		if (ps && n >= 0)
			ps->counted = 1;
		if (ps && ps->held)
			sios__presence_release(p, ps);
		break;
	case OP_REMOVE:
		if (status && status != SIOS_ECLOSED)
			keep_gone(p, o->user, o->sid, o->when, 0);
		else if (yes && p->grace_ms) {
			if ((u = sios__presence_user(p, o->user, 0))) {
				memcpy(u->last_sid, o->sid, sizeof(u->last_sid));
				sios__presence_grace(p, u);
			}
		} else if (yes) {
			sios__presence_announce(p, o->user, "offline", o->when, 1);
		}
		break;
	case OP_OFFLINE:
		if (yes)
			sios__presence_announce(p, o->user, "offline", o->when, 1);
		break;
	case OP_BEAT:
		/* 0: this server had been swept (a stall longer than the TTL)
		 * or Redis restarted empty: its sockets are counted again */
		if (!status && rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 0 &&
		    p->registered)
			restore(p);
		if (!status)
			p->registered = 1;
		break;
	case OP_STATUS:
		if (yes)
			sios__presence_announce(p, o->user, o->users[0], 0, 1);
		break;
	case OP_QUERY: {
		cJSON *res = cJSON_CreateArray();

		if (!status && (!rep || rep->type != REDIS_REPLY_ARRAY))
			status = SIOS_EIO; /* an error reply is not "everyone offline" */

		for (size_t i = 0; res && i < o->nusers; i++)
			cJSON_AddItemToArray(res, state_of(o->users[i],
							   !status && rep && rep->type == REDIS_REPLY_ARRAY &&
									   i < rep->elements
								   ? rep->element[i]
								   : NULL));
		o->qcb(status ? SIOS_EIO : res ? 0 : SIOS_ENOMEM, status ? NULL : res, o->qud);
		cJSON_Delete(res);
		break;
	}
	case OP_SWEEP:
		if (!status && rep && rep->type == REDIS_REPLY_ARRAY)
			swept(p, rep, o->when);
		break;
	case OP_SERVERS:
		on_servers(p, status, rep);
		break;
	case OP_ONLINE: {
		cJSON *st = !status && rep && rep->type == REDIS_REPLY_STRING
				    ? cJSON_ParseWithLength(rep->str, rep->len)
				    : NULL;
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(st, "status");

		o->ofn(o->qud, status ? SIOS_EIO : 0,
		       cJSON_IsString(v) && strcmp(v->valuestring, "offline"));
		cJSON_Delete(st);
		break;
	}
	case OP_FIRE:
		break;
	}
	sios__core_leave(p->srv);
	op_free(o);
}

/* ---- heartbeat, sweeps, changes, Redis coming back ------------------------- */

static void on_servers(sios_presence *p, int status, const redisReply *rep)
{
	char beat[320], socks[320], now[24];

	if (status || !rep || rep->type != REDIS_REPLY_ARRAY)
		return;
	snprintf(now, sizeof(now), "%llu", (unsigned long long)sios__wall_ms());
	for (size_t i = 0; i < rep->elements; i++) {
		const redisReply *e = rep->element[i];
		char reg[320];
		struct pop *o;

		if (e->type != REDIS_REPLY_STRING || !strcmp(e->str, p->uid) || e->len > 64 ||
		    !(o = op_new(p, OP_SWEEP, NULL, NULL, strtoull(now, NULL, 10))))
			continue;
		{
			const char *nsp = sios__nsp_name(p->nsp);
			const char *argv[] = {"EVAL", SWEEP, "4", reg, beat, socks, "presence", e->str,
					      now};

			snprintf(reg, sizeof(reg), "sios:presence:%s:servers", nsp);
			snprintf(beat, sizeof(beat), "sios:presence:%s:server:%s", nsp, e->str);
			snprintf(socks, sizeof(socks), "sios:presence:%s:server:%s:sockets", nsp, e->str);
			send_argv(p, o, 9, argv);
		}
	}
}

/* the heartbeat, and the servers to sweep */
static void heartbeat(sios_presence *p)
{
	struct sios__redis *r = sios__pr_conn(p);
	const char *nsp = sios__nsp_name(p->nsp);
	char beat[320], reg[320], ttl[16];
	struct pop *o;

	if (!r)
		return;
	snprintf(beat, sizeof(beat), "sios:presence:%s:server:%s", nsp, p->uid);
	snprintf(reg, sizeof(reg), "sios:presence:%s:servers", nsp);
	snprintf(ttl, sizeof(ttl), "%u", p->ttl_s);
	if ((o = op_new(p, OP_BEAT, NULL, NULL, 0))) {
		const char *argv[] = {"EVAL", BEAT, "2", reg, beat, p->uid, ttl};

		send_argv(p, o, 7, argv);
	}
	if ((o = op_new(p, OP_SERVERS, NULL, NULL, 0))) {
		const char *argv[] = {"SMEMBERS", reg};

		send_argv(p, o, 2, argv);
	}
}

static void beat_cb(sios__timer *t)
{
	sios_presence *p = sios__container_of(t, sios_presence, beat);

	sios__core_enter(p->srv);
	heartbeat(p);
	sios__core_leave(p->srv);
	sios__loop_timer_add(&p->srv->loop, &p->beat, beat_ms(p));
}

/* Redis is (back) up: it may have restarted empty; every live socket of
 * this server is counted again, with no announcement */
static void restore(sios_presence *p)
{
	size_t it = 0;
	struct psock *ps;

	struct pgone *list = p->gone_head;

	/* first the departures Redis missed, in order (one that fails again is
	 * kept again), then every live socket */
	p->gone_head = p->gone_tail = NULL;
	p->ngone = 0;
	while (list) {
		struct pgone *g = list;

		list = g->next;
		if (g->grace)
			sios__pr_offline_if_empty(p, g->user, g->when);
		else
			sios__pr_remove(p, g->user, g->sid, g->when);
		free(g);
	}
	while ((ps = sios__map_next(&p->socks, &it)))
		if (!ps->held)
			send_add(p, ps, OP_RESTORE);
}

static void on_redis_up(void *ud)
{
	sios_presence *p = ud;

	sios__core_enter(p->srv);
	heartbeat(p);
	restore(p);
	sios__core_leave(p->srv);
}

void sios__pr_publish(sios_presence *p, const char *user, const char *status,
		      uint64_t last_seen)
{
	struct sios__redis *r = sios__pr_conn(p);
	cJSON *m = cJSON_CreateObject();
	char *s;

	if (!r || !m || !cJSON_AddStringToObject(m, "uid", p->uid) ||
	    !cJSON_AddStringToObject(m, "userId", user) ||
	    !cJSON_AddStringToObject(m, "status", status) ||
	    (last_seen && !cJSON_AddNumberToObject(m, "lastSeen", (double)last_seen)) ||
	    !(s = cJSON_PrintUnformatted(m))) {
		cJSON_Delete(m);
		return;
	}
	sios__redis_publish(r, p->chan, strlen(p->chan), s, strlen(s));
	free(s);
	cJSON_Delete(m);
}

/* another server's change: the application's callback here too */
static void on_change_msg(void *ud, const char *chan, size_t clen, const char *data, size_t len)
{
	sios_presence *p = ud;
	cJSON *m = cJSON_ParseWithLength(data, len);
	const cJSON *uid = cJSON_GetObjectItemCaseSensitive(m, "uid");
	const cJSON *user = cJSON_GetObjectItemCaseSensitive(m, "userId");
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(m, "status");
	const cJSON *ls = cJSON_GetObjectItemCaseSensitive(m, "lastSeen");

	(void)chan;
	(void)clen;
	if (p->on_change && cJSON_IsString(uid) && strcmp(uid->valuestring, p->uid) &&
	    cJSON_IsString(user) && cJSON_IsString(st)) {
		sios__core_enter(p->srv);
		p->on_change(p, user->valuestring, st->valuestring,
			     cJSON_IsNumber(ls) && ls->valuedouble > 0 ? (uint64_t)ls->valuedouble : 0,
			     p->change_ud);
		sios__core_leave(p->srv);
	}
	cJSON_Delete(m);
}

int sios__pr_start(sios_presence *p)
{
	struct sios__redis *r = sios__pr_conn(p);
	char id[SIOS__ID_LEN + 1];
	int rc;

	sios__id(id);
	snprintf(p->uid, sizeof(p->uid), "%.20s", id);
	if (!(p->chan = malloc(strlen(sios__nsp_name(p->nsp)) + 16)))
		return SIOS_ENOMEM;
	sprintf(p->chan, "sios-presence#%s", sios__nsp_name(p->nsp));
	if ((rc = sios__redis_subscribe_fn(r, p->chan, on_change_msg, p)) ||
	    (rc = sios__redis_on_reconnect(r, on_redis_up, p)))
		return rc;
	sios__timer_init(&p->beat, beat_cb);
	if (sios__redis_ready(r))
		heartbeat(p);
	sios__loop_timer_add(&p->srv->loop, &p->beat, beat_ms(p));
	return 0;
}

void sios__pr_rearm(sios_presence *p)
{
	struct sios__redis *r = sios__pr_conn(p);

	sios__loop_timer_cancel(&p->srv->loop, &p->beat);
	if (r && sios__redis_ready(r))
		heartbeat(p);
	sios__loop_timer_add(&p->srv->loop, &p->beat, beat_ms(p));
}

void sios__pr_stop(sios_presence *p)
{
	struct sios__redis *r = sios__pr_conn(p);

	if (r) {
		sios__redis_unsubscribe_fn(r, p->chan);
		sios__redis_off_reconnect(r, p);
	}
	sios__loop_timer_cancel(&p->srv->loop, &p->beat);
	/* what is in flight finds the tracker gone */
	for (struct pop *o = p->ops; o; o = o->next)
		o->p = NULL;
	p->ops = NULL;
	while (p->gone_head) {
		struct pgone *g = p->gone_head;

		p->gone_head = g->next;
		free(g);
	}
	p->gone_tail = NULL;
	p->ngone = 0;
	free(p->chan);
	p->chan = NULL;
}

#else /* without Redis: the tracker keeps to memory */

struct sios__redis *sios__pr_conn(sios_presence *p)
{
	(void)p;
	return NULL;
}

int sios__pr_start(sios_presence *p)
{
	(void)p;
	return SIOS_ENOTSUP;
}

void sios__pr_stop(sios_presence *p) { (void)p; }

void sios__pr_rearm(sios_presence *p) { (void)p; }

int sios__pr_add(sios_presence *p, struct psock *ps)
{
	(void)p;
	(void)ps;
	return 0;
}

void sios__pr_remove(sios_presence *p, const char *user, const char *sid, uint64_t when)
{
	(void)p;
	(void)user;
	(void)sid;
	(void)when;
}

void sios__pr_offline_if_empty(sios_presence *p, const char *user, uint64_t when)
{
	(void)p;
	(void)user;
	(void)when;
}

int sios__pr_set_status(sios_presence *p, const char *user, const char *status)
{
	(void)p;
	(void)user;
	(void)status;
	return SIOS_ENOTSUP;
}

void sios__pr_set_friends(sios_presence *p, const char *user, char *const *friends, size_t n)
{
	(void)p;
	(void)user;
	(void)friends;
	(void)n;
}

int sios__pr_query(sios_presence *p, const char *const *users, size_t n,
		   sios_presence_query_cb cb, void *ud)
{
	(void)p;
	(void)users;
	(void)n;
	(void)cb;
	(void)ud;
	return SIOS_ENOTSUP;
}

void sios__pr_publish(sios_presence *p, const char *user, const char *status,
		      uint64_t last_seen)
{
	(void)p;
	(void)user;
	(void)status;
	(void)last_seen;
}

int sios__pr_online(sios_presence *p, const char *user, sios__online_fn done, void *ud)
{
	(void)p;
	(void)user;
	(void)done;
	(void)ud;
	return SIOS_ENOTSUP;
}
#endif
