/* The offline queue (sios_queue_new(3)): a message for a user goes to the
 * user's sockets (room user:<id>, through the adapter, so on any server)
 * when presence says the user is online, and is queued otherwise. When a
 * socket of the user connects it gets "queued-messages" with the queue in
 * send order, asking for an acknowledgement: the acknowledgement removes
 * exactly the messages it was sent (those queued meanwhile stay); without
 * one they are sent again on the next connection (at least once).
 *
 * The queue is in memory, or, when the server has Redis, a list per user
 * (queue:<id>, capped, with a time to live) that outlives every server.
 * It sits above presence, which it asks who is online and which tells it
 * of each user's connecting sockets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "presence/presence_int.h"

#if SIOS_WITH_REDIS
#include <hiredis/hiredis.h>

#include "redis/redis.h"
#endif

/* a queued message: its element as stored, {"q": id, "e": event, "m": msg} */
struct qmsg {
	char *elem;
	uint64_t at; /* wall clock ms */
};

struct quser {
	char user[256];
	struct qmsg *v;
	size_t n, cap;
};

struct sios_queue {
	sios_presence *p;
	size_t max_per_user;
	size_t max_total, total; /* memory store: bytes queued, all users */
	unsigned ttl_s;
	int acked; /* removed on the client's ack (1) or as sent (0) */
	sios__map users; /* memory store: user -> struct quser */
};

/* a send waiting for presence's answer, or a delivery waiting for the
 * client's acknowledgement */
struct qsend {
	sios_queue *q;
	char user[256];
	char *event;
	cJSON *msg;
	sios_queue_sent_cb cb;
	void *ud;
};

struct qdeliver {
	sios_queue *q;
	char user[256];
	char **elems; /* what was sent, exactly as stored */
	size_t n;
};

static int redis_mode(sios_queue *q) { return q->p->redis; }

/* ---- the memory store ------------------------------------------------------ */

static struct quser *quser_get(sios_queue *q, const char *user, int create)
{
	struct quser *u = sios__map_get(&q->users, user);

	if (u || !create)
		return u;
	if (!(u = calloc(1, sizeof(*u))))
		return NULL;
	snprintf(u->user, sizeof(u->user), "%s", user);
	if (sios__map_put(&q->users, u->user, u)) {
		free(u);
		return NULL;
	}
	return u;
}

static void quser_expire(sios_queue *q, struct quser *u)
{
	uint64_t now = sios__wall_ms();
	size_t k = 0;

	while (k < u->n && u->v[k].at + (uint64_t)q->ttl_s * 1000u < now) {
		q->total -= strlen(u->v[k].elem);
		free(u->v[k++].elem);
	}
	if (k) {
		memmove(u->v, u->v + k, (u->n - k) * sizeof(*u->v));
		u->n -= k;
	}
}

static int mem_push(sios_queue *q, const char *user, char *elem)
{
	struct quser *u = quser_get(q, user, 1);

	if (!u)
		return SIOS_ENOMEM;
	quser_expire(q, u);
	if (q->total + strlen(elem) > q->max_total)
		return SIOS_ETOOBIG; /* every user's queues together are full */
	if (u->n == q->max_per_user) { /* the oldest goes */
		q->total -= strlen(u->v[0].elem);
		free(u->v[0].elem);
		memmove(u->v, u->v + 1, (u->n - 1) * sizeof(*u->v));
		u->n--;
	}
	if (u->n == u->cap) {
		size_t nc = u->cap ? u->cap * 2 : 8;
		struct qmsg *nv = realloc(u->v, nc * sizeof(*nv));

		if (!nv)
			return SIOS_ENOMEM;
		u->v = nv;
		u->cap = nc;
	}
	u->v[u->n].elem = elem;
	u->v[u->n].at = sios__wall_ms();
	u->n++;
	q->total += strlen(elem);
	return 0;
}

static void mem_remove(sios_queue *q, const char *user, char **elems, size_t n)
{
	struct quser *u = quser_get(q, user, 0);

	for (size_t i = 0; u && i < n; i++)
		for (size_t k = 0; k < u->n; k++)
			if (!strcmp(u->v[k].elem, elems[i])) {
				q->total -= strlen(u->v[k].elem);
				free(u->v[k].elem);
				memmove(u->v + k, u->v + k + 1, (u->n - k - 1) * sizeof(*u->v));
				u->n--;
				break;
			}
}

/* ---- delivery on connect --------------------------------------------------- */

static void qdeliver_free(struct qdeliver *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->elems[i]);
	free(d->elems);
	free(d);
}

#if SIOS_WITH_REDIS
static void fire(void *ud, int status, const struct redisReply *rep)
{
	(void)ud;
	(void)status;
	(void)rep;
}

/* KEYS queue; ARGV the delivered elements: each removed once */
static const char REMOVE[] = "for i = 1, #ARGV do redis.call('LREM', KEYS[1], 1, ARGV[i]) end "
			     "return 0";
#endif

static void acked(sios_socket *s, int status, const sios_event *resp, void *ud)
{
	struct qdeliver *d = ud;

	(void)s;
	(void)resp;
	/* no acknowledgement (the socket went): they are sent again next time */
	if (status == 0 && d->q) {
		if (!redis_mode(d->q)) {
			mem_remove(d->q, d->user, d->elems, d->n);
		} else {
#if SIOS_WITH_REDIS
			struct sios__redis *r = sios__pr_conn(d->q->p);
			char key[300];
			const char **argv = malloc((d->n + 4) * sizeof(*argv));
			size_t *lens = malloc((d->n + 4) * sizeof(*lens));

			snprintf(key, sizeof(key), "queue:%s", d->user);
			if (r && argv && lens) {
				argv[0] = "EVAL";
				argv[1] = REMOVE;
				argv[2] = "1";
				argv[3] = key;
				for (size_t i = 0; i < d->n; i++)
					argv[i + 4] = d->elems[i];
				for (size_t i = 0; i < d->n + 4; i++)
					lens[i] = strlen(argv[i]);
				sios__redis_command_argv(r, fire, NULL, (int)d->n + 4, argv, lens);
			}
			free(argv);
			free(lens);
#endif
		}
	}
	qdeliver_free(d);
}

/* the queue's messages to one socket, as "queued-messages" [[m1, m2, ...]] */
static void deliver(sios_queue *q, sios_socket *s, const char *user, char **elems, size_t n)
{
	struct qdeliver *d = calloc(1, sizeof(*d));
	cJSON *args = cJSON_CreateArray(), *list = cJSON_CreateArray();

	if (!d || !args || !list)
		goto fail;
	cJSON_AddItemToArray(args, list);
	d->q = q;
	snprintf(d->user, sizeof(d->user), "%s", user);
	d->elems = elems;
	d->n = n;
	elems = NULL;
	for (size_t i = 0; i < d->n; i++) {
		cJSON *e = cJSON_Parse(d->elems[i]);
		cJSON *m = cJSON_DetachItemFromObjectCaseSensitive(e, "m");

		if (m)
			cJSON_AddItemToArray(list, m);
		cJSON_Delete(e);
	}
	if (!q->acked) {
		/* removed as sent, for clients that do not acknowledge */
		if (sios_emit(s, "queued-messages", args, NULL, 0) == 0)
			acked(s, 0, NULL, d);
		else
			qdeliver_free(d);
		d = NULL;
	} else if (sios_emit_with_ack(s, "queued-messages", args, NULL, 0, 0, acked, d) == 0) {
		d = NULL;
	}
fail:
	cJSON_Delete(args);
	if (!args)
		cJSON_Delete(list);
	if (d)
		qdeliver_free(d);
	for (size_t i = 0; elems && i < n; i++)
		free(elems[i]);
	free(elems);
}

#if SIOS_WITH_REDIS
struct qfetch {
	sios_queue *q;
	char sid[SIOS__ID_LEN + 1];
	char user[256];
	struct sios_nsp *nsp;
};

static void fetched(void *ud, int status, const struct redisReply *rep)
{
	struct qfetch *f = ud;
	sios_socket *s;
	char **elems;
	size_t n = 0;

	if (status || !rep || rep->type != REDIS_REPLY_ARRAY || !rep->elements || !f->q ||
	    !(s = sios_nsp_socket(f->nsp, f->sid)) || !(elems = calloc(rep->elements, sizeof(*elems)))) {
		free(f);
		return;
	}
	for (size_t i = 0; i < rep->elements; i++)
		if (rep->element[i]->type == REDIS_REPLY_STRING &&
		    (elems[n] = sios__strdup(rep->element[i]->str)))
			n++;
	sios__core_enter(f->nsp->srv);
	deliver(f->q, s, f->user, elems, n);
	sios__core_leave(f->nsp->srv);
	free(f);
}
#endif

static void user_connected(void *ud, sios_socket *s, const char *user)
{
	sios_queue *q = ud;

	if (!redis_mode(q)) {
		struct quser *u = quser_get(q, user, 0);
		char **elems;

		if (!u)
			return;
		quser_expire(q, u);
		if (!u->n || !(elems = calloc(u->n, sizeof(*elems))))
			return;
		for (size_t i = 0; i < u->n; i++)
			elems[i] = sios__strdup(u->v[i].elem);
		deliver(q, s, user, elems, u->n);
		return;
	}
#if SIOS_WITH_REDIS
	{
		struct sios__redis *r = sios__pr_conn(q->p);
		struct qfetch *f = calloc(1, sizeof(*f));
		char key[300];
		const char *argv[] = {"LRANGE", key, "0", "-1"};
		size_t lens[4];

		if (!r || !f) {
			free(f);
			return;
		}
		f->q = q;
		f->nsp = sios_socket_nsp(s);
		memcpy(f->sid, sios_socket_id(s), sizeof(f->sid));
		snprintf(f->user, sizeof(f->user), "%s", user);
		snprintf(key, sizeof(key), "queue:%s", user);
		for (int i = 0; i < 4; i++)
			lens[i] = strlen(argv[i]);
		if (sios__redis_command_argv(r, fetched, f, 4, argv, lens))
			free(f);
	}
#endif
}

/* ---- sending ------------------------------------------------------------- */

static char *element(const char *event, const cJSON *msg)
{
	cJSON *e = cJSON_CreateObject();
	char id[SIOS__ID_LEN + 1], *s;

	sios__id(id);
	if (!e || !cJSON_AddStringToObject(e, "q", id) || !cJSON_AddStringToObject(e, "e", event) ||
	    !cJSON_AddItemToObject(e, "m", cJSON_Duplicate(msg, 1))) {
		cJSON_Delete(e);
		return NULL;
	}
	s = cJSON_PrintUnformatted(e);
	cJSON_Delete(e);
	return s;
}

static void qsend_free(struct qsend *x)
{
	free(x->event);
	cJSON_Delete(x->msg);
	free(x);
}

#if SIOS_WITH_REDIS
/* KEYS presence, queue; ARGV user, element, cap, ttl. Atomic with the
 * presence scripts: 1 when the user is online (the caller sends it to the
 * user's room, which a connecting socket joins before it is counted), else
 * queued (a connecting socket reads the queue after it is counted): a
 * message sent while its user connects is neither lost nor sent twice */
static const char SEND[] =
	"local c = redis.call('HGET', KEYS[1], ARGV[1]) "
	"if c then local ok, v = pcall(cjson.decode, c) "
	"  if ok and type(v) == 'table' and v.status ~= nil and v.status ~= 'offline' then "
	"    return 1 end end "
	"redis.call('RPUSH', KEYS[2], ARGV[2]) "
	"redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1) "
	"redis.call('EXPIRE', KEYS[2], tonumber(ARGV[4])) return 0";

static void send_to_room(struct qsend *x);

static void pushed(void *ud, int status, const struct redisReply *rep)
{
	struct qsend *x = ud;

	if (!status && rep && rep->type == REDIS_REPLY_INTEGER && rep->integer == 1) {
		sios_server *srv = x->q->p->srv;

		sios__core_enter(srv);
		send_to_room(x); /* frees x */
		sios__core_leave(srv);
		return;
	}
	if (x->cb)
		x->cb(status || !rep || rep->type == REDIS_REPLY_ERROR ? SIOS_EIO : 0, 1, x->ud);
	qsend_free(x);
}
#endif

/* to every socket of the user, on whichever server */
static void send_to_room(struct qsend *x)
{
	sios_scope *sc;
	char room[300];
	cJSON *args = cJSON_CreateArray();
	int r;

	snprintf(room, sizeof(room), "user:%s", x->user);
	cJSON_AddItemToArray(args, cJSON_Duplicate(x->msg, 1));
	r = sios_scope_new(x->q->p->nsp, &sc);
	if (!r && !(r = sios_scope_to(sc, room)))
		r = sios_scope_emit(sc, x->event, args, NULL, 0);
	sios_scope_free(sc);
	cJSON_Delete(args);
	if (x->cb)
		x->cb(r, 0, x->ud);
	qsend_free(x);
}

static void online_known(void *ud, int status, int online)
{
	struct qsend *x = ud;
	sios_queue *q = x->q;
	int r = status;

	if (!r && online) {
		send_to_room(x);
		return;
	}
	if (!r) {
		char *elem = element(x->event, x->msg);

		if (!elem) {
			r = SIOS_ENOMEM;
		} else if (!redis_mode(q)) {
			r = mem_push(q, x->user, elem);
			if (r)
				free(elem);
		} else {
#if SIOS_WITH_REDIS
			struct sios__redis *rc = sios__pr_conn(q->p);
			char key[300], cap[24], ttl[24];
			const char *argv[] = {"EVAL", SEND, "2", "presence", key, x->user, elem, cap, ttl};
			size_t lens[9];

			snprintf(key, sizeof(key), "queue:%s", x->user);
			snprintf(cap, sizeof(cap), "%zu", q->max_per_user);
			snprintf(ttl, sizeof(ttl), "%u", q->ttl_s);
			for (int i = 0; i < 9; i++)
				lens[i] = strlen(argv[i]);
			r = rc ? sios__redis_command_argv(rc, pushed, x, 9, argv, lens) : SIOS_EIO;
			free(elem);
			if (!r)
				return; /* pushed() answers */
#endif
		}
	}
	if (x->cb)
		x->cb(r, 1, x->ud);
	qsend_free(x);
}

/* ---- the API --------------------------------------------------------------- */

static void queue_destroy(void *ud);

SIOS_EXPORT int sios_queue_new(sios_presence *p, sios_queue **out)
{
	sios_queue *q;

	if (!out)
		return SIOS_EINVAL;
	*out = NULL;
	if (!p)
		return SIOS_EINVAL;
	if (SIOS__OFF_LOOP(&p->srv->loop))
		return SIOS_EMISUSE;
	if (p->user_connected)
		return SIOS_EEXIST;
	if (!(q = calloc(1, sizeof(*q))))
		return SIOS_ENOMEM;
	q->p = p;
	q->max_per_user = 100;
	q->max_total = 64u << 20;
	q->ttl_s = 7 * 24 * 3600;
	q->acked = 1;
	sios__map_init(&q->users);
	p->user_connected = user_connected;
	p->uc_free = queue_destroy;
	p->uc_ud = q;
	*out = q;
	return 0;
}

SIOS_EXPORT void sios_queue_free(sios_queue *q)
{
	if (!q)
		return;
	q->p->user_connected = NULL;
	q->p->uc_free = NULL;
	q->p->uc_ud = NULL;
	queue_destroy(q);
}

static void queue_destroy(void *ud)
{
	sios_queue *q = ud;
	size_t it = 0;
	struct quser *u;

	while ((u = sios__map_next(&q->users, &it))) {
		for (size_t i = 0; i < u->n; i++)
			free(u->v[i].elem);
		free(u->v);
		free(u);
	}
	sios__map_free(&q->users);
	free(q);
}

SIOS_EXPORT int sios_queue_set_limits(sios_queue *q, size_t max_per_user, size_t max_total_bytes,
				      unsigned ttl_s)
{
	if (!q || !max_per_user || max_per_user > 100000 || !ttl_s || max_total_bytes < 4096)
		return SIOS_EINVAL;
	q->max_per_user = max_per_user;
	q->max_total = max_total_bytes;
	q->ttl_s = ttl_s;
	return 0;
}

SIOS_EXPORT int sios_queue_set_acked(sios_queue *q, int acked)
{
	if (!q)
		return SIOS_EINVAL;
	q->acked = !!acked;
	return 0;
}

SIOS_EXPORT int sios_queue_send(sios_queue *q, const char *user, const char *event,
				const cJSON *msg, sios_queue_sent_cb cb, void *ud)
{
	struct qsend *x;
	int r;

	if (!q || !user || !*user || strlen(user) >= 256 || !msg || !sios__emit_ok(event, NULL, 0))
		return SIOS_EINVAL;
	if (SIOS__OFF_LOOP(&q->p->srv->loop))
		return SIOS_EMISUSE;
	if (!(x = calloc(1, sizeof(*x))) || !(x->event = sios__strdup(event)) ||
	    !(x->msg = cJSON_Duplicate(msg, 1))) {
		if (x)
			free(x->event);
		free(x);
		return SIOS_ENOMEM;
	}
	x->q = q;
	snprintf(x->user, sizeof(x->user), "%s", user);
	x->cb = cb;
	x->ud = ud;
	/* in Redis the check and the queueing are one script (online_known
	 * is told "offline" and runs it) */
	if (redis_mode(q)) {
		online_known(x, 0, 0);
		return 0;
	}
	if ((r = sios__presence_online(q->p, user, online_known, x))) {
		qsend_free(x);
		return r;
	}
	return 0;
}
