/* Presence: which users are online on a namespace (sios_presence_new(3)).
 *
 * The tracker watches the namespace's sockets from above core (the
 * sios__watch hooks): a socket whose user is known is counted before its
 * CONNECT reply goes out (so a client is online from the moment it sees
 * "connect"), joins "user:<id>", and is uncounted when it goes. The first
 * socket of a user makes it "online", the last one (after the grace period)
 * "offline" with lastSeen; each change goes to the application's callback
 * and, as the "presence" event, to the rooms of the user's friends.
 *
 * Alone, the tracker is the in-memory store (one server). In a cluster
 * (the server has Redis) it keeps each user's sockets and state in Redis
 * (store_redis.c), where every server counts and transitions are atomic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "presence_int.h"

/* ---- users ---------------------------------------------------------------- */

static void grace_cb(sios__timer *t);

struct puser *sios__presence_user(sios_presence *p, const char *id, int create)
{
	struct puser *u = sios__map_get(&p->users, id);

	if (u || !create)
		return u;
	if (!(u = calloc(1, sizeof(*u))) || !(u->id = sios__strdup(id)) ||
	    sios__map_put(&p->users, u->id, u)) {
		if (u)
			free(u->id);
		free(u);
		return NULL;
	}
	u->p = p;
	sios__timer_init(&u->grace, grace_cb);
	return u;
}

static void user_free(struct puser *u)
{
	sios__loop_timer_cancel(&u->p->srv->loop, &u->grace);
	sios__strv_free(&u->friends, &u->nfriends);
	free(u->status);
	free(u->id);
	free(u);
}

static const char *user_status(const struct puser *u)
{
	return !u || !u->online ? "offline" : u->status ? u->status : "online";
}

/* {userId, status, lastSeen?} */
static cJSON *state_json(const char *id, const char *status, uint64_t last_seen)
{
	cJSON *o = cJSON_CreateObject();

	if (!o || !cJSON_AddStringToObject(o, "userId", id) ||
	    !cJSON_AddStringToObject(o, "status", status) ||
	    (!strcmp(status, "offline") && last_seen &&
	     !cJSON_AddNumberToObject(o, "lastSeen", (double)last_seen))) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

static cJSON *user_json(const char *id, const struct puser *u)
{
	return state_json(id, user_status(u), u && !u->online ? u->last_seen : 0);
}

/* ---- telling the friends -------------------------------------------------- */

void sios__presence_tell(sios_presence *p, const char *user, const char *status,
			 uint64_t last_seen, char *const *friends, size_t n)
{
	cJSON *args;
	sios_scope *sc;
	char room[512];
	size_t rooms = 0;

	if (!n || sios_scope_new(p->nsp, &sc))
		return;
	for (size_t i = 0; i < n; i++) {
		if ((size_t)snprintf(room, sizeof(room), "user:%s", friends[i]) >= sizeof(room))
			continue;
		rooms += sios_scope_to(sc, room) == 0;
	}
	if (rooms && (args = cJSON_CreateArray())) {
		cJSON_AddItemToArray(args, state_json(user, status, last_seen));
		sios_scope_emit(sc, "presence", args, NULL, 0);
		cJSON_Delete(args);
	}
	sios_scope_free(sc);
}

void sios__presence_announce(sios_presence *p, const char *user, const char *status,
			     uint64_t last_seen, int friends)
{
	struct puser *u = sios__map_get(&p->users, user);

	if (strcmp(status, "offline"))
		last_seen = 0;
	if (p->on_change)
		p->on_change(p, user, status, last_seen, p->change_ud);
	if (p->redis)
		sios__pr_publish(p, user, status, last_seen);
	if (!friends)
		return;
	if (u && u->has_friends) {
		sios__presence_tell(p, user, status, last_seen, u->friends, u->nfriends);
	} else if (p->on_friends) {
		struct sios_presence_friends *q = calloc(1, sizeof(*q));

		if (!q || !(q->user = sios__strdup(user))) {
			free(q);
			return;
		}
		q->status = sios__strdup(status);
		q->last_seen = last_seen;
		q->p = p;
		q->next = p->reqs;
		if (p->reqs)
			p->reqs->prev = q;
		p->reqs = q;
		p->on_friends(p, user, q, p->friends_ud);
	}
}

static void announce(struct puser *u)
{
	sios__presence_announce(u->p, u->id, user_status(u), u->online ? 0 : u->last_seen, 1);
}

static void req_unlink(struct sios_presence_friends *q)
{
	if (q->prev)
		q->prev->next = q->next;
	else
		q->p->reqs = q->next;
	if (q->next)
		q->next->prev = q->prev;
}

static int strv_set(char ***v, size_t *vn, const char *const *src, size_t n)
{
	char **nv = n ? calloc(n, sizeof(*nv)) : NULL;

	if (n && !nv)
		return SIOS_ENOMEM;
	for (size_t i = 0; i < n; i++)
		if (!src[i] || !*src[i] || !(nv[i] = sios__strdup(src[i]))) {
			sios__strv_free(&nv, &n);
			return src[i] && *src[i] ? SIOS_ENOMEM : SIOS_EINVAL;
		}
	sios__strv_free(v, vn);
	*v = nv;
	*vn = n;
	return 0;
}

SIOS_EXPORT int sios_presence_friends_send(sios_presence_friends *q, const char *const *friends,
					   size_t n)
{
	sios_presence *p;
	struct puser *u;
	int r;

	if (!q || (n && !friends))
		return SIOS_EINVAL;
	p = q->p;
	if (SIOS__OFF_LOOP(&p->srv->loop))
		return SIOS_EMISUSE;
	req_unlink(q);
	u = sios__map_get(&p->users, q->user);
	/* kept for the user's next changes, unless set meanwhile */
	if (u && !u->has_friends && (r = strv_set(&u->friends, &u->nfriends, friends, n)) == 0)
		u->has_friends = 1;
	if (u && p->redis)
		sios__pr_set_friends(p, q->user, u->friends, u->nfriends);
	sios__core_enter(p->srv);
	sios__presence_tell(p, q->user, q->status ? q->status : "online", q->last_seen,
			    (char *const *)friends, n);
	sios__core_leave(p->srv);
	free(q->status);
	free(q->user);
	free(q);
	return 0;
}

/* ---- the watch hooks ------------------------------------------------------ */

static void pre_drop(sios_presence *p, const char *sid)
{
	struct ppre *x = sios__map_del(&p->preset, sid);

	if (x) {
		free(x->user);
		free(x);
	}
}

static const char *socket_user(sios_presence *p, sios_socket *s)
{
	const struct ppre *pre = sios__map_get(&p->preset, s->id);
	const cJSON *a;

	if (pre)
		return pre->user;
	if (!p->auth_key)
		return NULL;
	a = cJSON_GetObjectItemCaseSensitive(sios_socket_auth(s), p->auth_key);
	return cJSON_IsString(a) && *a->valuestring && strlen(a->valuestring) < 256
		       ? a->valuestring
		       : NULL;
}

static int w_connecting(void *ud, sios_socket *s)
{
	sios_presence *p = ud;
	const char *id = socket_user(p, s);
	struct puser *u;
	struct psock *ps;

	if (!id || !(u = sios__presence_user(p, id, 1)) || !(ps = calloc(1, sizeof(*ps)))) {
		pre_drop(p, s->id);
		return 0; /* not a user's socket: not counted */
	}
	memcpy(ps->sid, s->id, sizeof(ps->sid));
	ps->u = u;
	pre_drop(p, s->id); /* (id may be its string: not used from here) */
	if (sios__map_put(&p->socks, ps->sid, ps)) {
		free(ps);
		return 0;
	}
	if (p->redis) {
		/* Redis decides whether the user comes online; the CONNECT
		 * reply waits for it */
		char room[300];

		if (u->nsockets++ == 0 && u->grace_on) {
			sios__loop_timer_cancel(&p->srv->loop, &u->grace);
			u->grace_on = 0;
		}
		/* in the user's room before Redis says it is online: what a
		 * server sends it from then on reaches it (the client keeps
		 * events that come before its CONNECT reply) */
		snprintf(room, sizeof(room), "user:%s", u->id);
		s->nsp->adapter->ops->join(s->nsp->adapter, s, room);
		if (sios__pr_add(p, ps)) {
			ps->held = s;
			return 1;
		}
		return 0;
	}
	if (u->nsockets++ == 0) {
		if (u->grace_on) {
			/* back within the grace period: nothing happened */
			sios__loop_timer_cancel(&p->srv->loop, &u->grace);
			u->grace_on = 0;
		} else if (!u->online) {
			u->online = 1;
			announce(u);
		}
	}
	return 0;
}

static void w_connected(void *ud, sios_socket *s)
{
	sios_presence *p = ud;
	struct psock *ps = sios__map_get(&p->socks, s->id);
	char room[512];

	if (ps && (size_t)snprintf(room, sizeof(room), "user:%s", ps->u->id) < sizeof(room))
		sios_socket_join(s, room);
	if (ps && p->user_connected)
		p->user_connected(p->uc_ud, s, ps->u->id);
}

int sios__presence_online(sios_presence *p, const char *user, sios__online_fn done, void *ud)
{
	struct puser *u;

	if (p->redis)
		return sios__pr_online(p, user, done, ud);
	u = sios__map_get(&p->users, user);
	done(ud, 0, u && u->online);
	return 0;
}

static void go_offline(struct puser *u)
{
	u->online = 0;
	u->last_seen = u->gone_at;
	free(u->status);
	u->status = NULL;
	announce(u);
}

static void grace_cb(sios__timer *t)
{
	struct puser *u = sios__container_of(t, struct puser, grace);
	sios_server *srv = u->p->srv;

	sios__core_enter(srv);
	u->grace_on = 0;
	if (u->p->redis) {
		if (!u->nsockets) /* and none elsewhere, Redis says */
			sios__pr_offline_if_empty(u->p, u->id, u->gone_at);
	} else if (!u->nsockets && u->online) {
		go_offline(u);
	}
	sios__core_leave(srv);
}

/* a socket gone from this server: the last of its user here starts the
 * grace period, or (none) goes offline */
static void socket_uncounted(sios_presence *p, struct puser *u, const char *sid)
{
	if (--u->nsockets && !p->redis)
		return;
	u->gone_at = sios__wall_ms();
	if (p->redis) {
		sios__pr_remove(p, u->id, sid, u->gone_at);
		return;
	}
	if (p->grace_ms) {
		u->grace_on = 1;
		sios__loop_timer_add(&p->srv->loop, &u->grace, p->grace_ms);
	} else {
		go_offline(u);
	}
}

void sios__presence_grace(sios_presence *p, struct puser *u)
{
	if (u->nsockets || u->grace_on)
		return;
	u->grace_on = 1;
	sios__loop_timer_add(&p->srv->loop, &u->grace, p->grace_ms);
}

void sios__presence_release(sios_presence *p, struct psock *ps)
{
	sios_socket *s = ps->held;
	struct puser *u = ps->u;
	char sid[SIOS__ID_LEN + 1];

	ps->held = NULL;
	if (!s || sios__socket_proceed(s) != SIOS_ECLOSED)
		return;
	/* its client left while Redis counted it: it never connected */
	memcpy(sid, ps->sid, sizeof(sid));
	free(sios__map_del(&p->socks, sid));
	socket_uncounted(p, u, sid);
}

static void w_gone(void *ud, sios_socket *s)
{
	sios_presence *p = ud;
	struct psock *ps;
	struct puser *u;

	pre_drop(p, s->id);
	if (!(ps = sios__map_del(&p->socks, s->id)))
		return;
	u = ps->u;
	free(ps);
	socket_uncounted(p, u, s->id);
}

static void presence_destroy(sios_presence *p)
{
	size_t it = 0;
	void *v;

	if (p->uc_free)
		p->uc_free(p->uc_ud);
	if (p->redis)
		sios__pr_stop(p);
	/* sockets whose CONNECT waits for Redis go on without presence */
	while ((v = sios__map_next(&p->socks, &it)))
		if (((struct psock *)v)->held) {
			sios_socket *s = ((struct psock *)v)->held;

			((struct psock *)v)->held = NULL;
			sios__socket_proceed(s);
		}
	it = 0;
	while (p->reqs) {
		struct sios_presence_friends *q = p->reqs;

		p->reqs = q->next;
		free(q->status);
		free(q->user);
		free(q);
	}
	while ((v = sios__map_next(&p->users, &it)))
		user_free(v);
	it = 0;
	while ((v = sios__map_next(&p->socks, &it)))
		free(v);
	it = 0;
	while ((v = sios__map_next(&p->preset, &it))) {
		free(((struct ppre *)v)->user);
		free(v);
	}
	sios__map_free(&p->users);
	sios__map_free(&p->socks);
	sios__map_free(&p->preset);
	free(p->auth_key);
	free(p);
}

static void w_free(void *ud) { presence_destroy(ud); }

/* ---- the API ---------------------------------------------------------------- */

SIOS_EXPORT int sios_presence_new(sios_nsp *nsp, sios_presence **out)
{
	sios_presence *p;

	if (!out)
		return SIOS_EINVAL;
	*out = NULL;
	if (!nsp)
		return SIOS_EINVAL;
	if (SIOS__OFF_LOOP(&nsp->srv->loop))
		return SIOS_EMISUSE;
	if (nsp->parent || nsp->is_pattern)
		return SIOS_EINVAL; /* a namespace with sockets of its own */
	/* the Redis keys are the pattern's, one set per server: one tracker */
	for (struct sios_nsp *n = nsp->srv->nsps; n; n = n->next)
		if (n->watch.ud)
			return SIOS_EEXIST;
	if (!(p = calloc(1, sizeof(*p))))
		return SIOS_ENOMEM;
	p->nsp = nsp;
	p->srv = nsp->srv;
	sios__map_init(&p->users);
	sios__map_init(&p->socks);
	sios__map_init(&p->preset);
	p->ttl_s = 30;
	if (sios__pr_conn(p)) {
		int r;

		p->redis = 1;
		if ((r = sios__pr_start(p))) {
			presence_destroy(p);
			return r;
		}
	}
	nsp->watch.connecting = w_connecting;
	nsp->watch.connected = w_connected;
	nsp->watch.gone = w_gone;
	nsp->watch.free = w_free;
	nsp->watch.ud = p;
	*out = p;
	return 0;
}

SIOS_EXPORT void sios_presence_free(sios_presence *p)
{
	if (!p || SIOS__OFF_LOOP(&p->srv->loop))
		return;
	memset(&p->nsp->watch, 0, sizeof(p->nsp->watch));
	presence_destroy(p);
}

SIOS_EXPORT int sios_presence_set_auth_key(sios_presence *p, const char *key)
{
	char *k = NULL;

	if (!p || (key && !*key))
		return SIOS_EINVAL;
	if (key && !(k = sios__strdup(key)))
		return SIOS_ENOMEM;
	free(p->auth_key);
	p->auth_key = k;
	return 0;
}

SIOS_EXPORT int sios_presence_set_user(sios_presence *p, sios_socket *s, const char *user)
{
	struct ppre *x;
	char *u;

	if (!p || !s || !user || !*user || strlen(user) >= 256 || sios__cfg_nsp(s->nsp) != p->nsp)
		return SIOS_EINVAL;
	if (SIOS__OFF_LOOP(&p->srv->loop))
		return SIOS_EMISUSE;
	if (s->state != SIOS__SOCK_CONNECTING)
		return SIOS_EMISUSE; /* counted as it connects: say it before */
	if (!(u = sios__strdup(user)))
		return SIOS_ENOMEM;
	if ((x = sios__map_get(&p->preset, s->id))) {
		free(x->user);
		x->user = u;
		return 0;
	}
	if (!(x = calloc(1, sizeof(*x)))) {
		free(u);
		return SIOS_ENOMEM;
	}
	memcpy(x->sid, s->id, sizeof(x->sid));
	x->user = u;
	if (sios__map_put(&p->preset, x->sid, x)) {
		free(u);
		free(x);
		return SIOS_ENOMEM;
	}
	return 0;
}

SIOS_EXPORT int sios_presence_set_friends(sios_presence *p, const char *user,
					  const char *const *friends, size_t n)
{
	struct puser *u;
	int r;

	if (!p || !user || !*user || strlen(user) >= 256 || (n && !friends))
		return SIOS_EINVAL;
	if (SIOS__OFF_LOOP(&p->srv->loop))
		return SIOS_EMISUSE;
	for (size_t i = 0; i < n; i++)
		if (!friends[i] || !*friends[i] || strlen(friends[i]) >= 256)
			return SIOS_EINVAL;
	if (!(u = sios__presence_user(p, user, 1)))
		return SIOS_ENOMEM;
	if ((r = strv_set(&u->friends, &u->nfriends, friends, n)))
		return r;
	u->has_friends = 1;
	if (p->redis) /* where a crash sweep finds them */
		sios__pr_set_friends(p, user, u->friends, u->nfriends);
	return 0;
}

SIOS_EXPORT void sios_presence_friends_callback_set(sios_presence *p,
						    sios_presence_friends_cb cb, void *ud)
{
	if (p) {
		p->on_friends = cb;
		p->friends_ud = ud;
	}
}

SIOS_EXPORT void sios_presence_change_callback_set(sios_presence *p, sios_presence_change_cb cb,
						   void *ud)
{
	if (p) {
		p->on_change = cb;
		p->change_ud = ud;
	}
}

SIOS_EXPORT int sios_presence_set_grace(sios_presence *p, unsigned ms)
{
	if (!p)
		return SIOS_EINVAL;
	p->grace_ms = ms;
	return 0;
}

SIOS_EXPORT int sios_presence_set_status(sios_presence *p, const char *user, const char *status)
{
	struct puser *u;
	char *st = NULL;

	if (!p || !user || !*user || strlen(user) >= 256 || !status || !*status ||
	    !strcmp(status, "offline") || strlen(status) >= 64)
		return SIOS_EINVAL;
	if (SIOS__OFF_LOOP(&p->srv->loop))
		return SIOS_EMISUSE;
	if (p->redis)
		return sios__pr_set_status(p, user, status);
	if (!(u = sios__presence_user(p, user, 0)) || !u->online)
		return SIOS_ENOENT; /* only an online user has a status to set */
	if (strcmp(status, "online") && !(st = sios__strdup(status)))
		return SIOS_ENOMEM;
	if (!strcmp(user_status(u), status)) {
		free(st);
		return 0; /* no change, nothing to tell */
	}
	free(u->status);
	u->status = st;
	sios__core_enter(p->srv);
	announce(u);
	sios__core_leave(p->srv);
	return 0;
}

SIOS_EXPORT int sios_presence_query(sios_presence *p, const char *const *users, size_t n,
				    sios_presence_query_cb cb, void *ud)
{
	cJSON *res;

	if (!p || !cb || (n && !users))
		return SIOS_EINVAL;
	if (SIOS__OFF_LOOP(&p->srv->loop))
		return SIOS_EMISUSE;
	/* (a name of 256 bytes or more is never a user: "offline") */
	for (size_t i = 0; i < n; i++)
		if (!users[i])
			return SIOS_EINVAL;
	if (p->redis)
		return sios__pr_query(p, users, n, cb, ud);
	if (!(res = cJSON_CreateArray()))
		return SIOS_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		cJSON *o;

		if (!users[i] || !(o = user_json(users[i], sios__map_get(&p->users, users[i])))) {
			cJSON_Delete(res);
			return users[i] ? SIOS_ENOMEM : SIOS_EINVAL;
		}
		cJSON_AddItemToArray(res, o);
	}
	cb(0, res, ud);
	cJSON_Delete(res);
	return 0;
}

SIOS_EXPORT int sios_presence_set_ttl(sios_presence *p, unsigned seconds)
{
	if (!p || seconds < 3 || seconds > 86400)
		return SIOS_EINVAL;
	p->ttl_s = seconds;
	if (p->redis)
		sios__pr_rearm(p);
	return 0;
}
