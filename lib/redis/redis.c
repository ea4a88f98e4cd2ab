/* Two hiredis connections on the loop, made again whenever they are lost
 * (redis.h says what is promised). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "redis.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 1000
#define CONNECT_TIMEOUT_MS 3000

struct conn {
	sios__redis *r;
	redisAsyncContext *ac;
	int up;      /* connected */
	int is_sub;  /* the subscriber */
	int was_up;  /* has been up once: a new connection is a reconnect */
	int lost_logged;
	unsigned backoff_ms;
	uint64_t down_since;
	sios__timer retry, cto;
};

struct subrec {
	char *chan;
	int pattern;
	unsigned holders;
	struct subrec *next;
};

struct qpub {
	struct qpub *next;
	size_t clen, len;
	char bytes[]; /* channel, then data */
};

struct numsub_req {
	sios__redis *r;
	sios__redis_int_fn cb;
	void *ud;
};

struct chanfn {
	char *chan;
	sios__redis_msg_fn fn;
	void *ud;
	struct chanfn *next;
};

struct relisten {
	void (*fn)(void *ud);
	void *ud;
	struct relisten *next;
};

struct cmd_req {
	sios__redis *r;
	sios__redis_reply_fn cb;
	void *ud;
};

struct sios__redis {
	sios__loop *l;
	sios__redis_url url;
	sios__redis_opts o;
	char where[160]; /* for logs: "127.0.0.1:6379" */
	struct conn pub, sub;
	struct subrec *subs;
	struct qpub *qhead, *qtail;
	size_t qbytes;
	sios__timer health;
	/* what was buffered while Redis was away waits this long after the
	 * command connection is back, for the other servers' subscribers
	 * (which retry at least every BACKOFF_MAX_MS) to be back too */
	sios__timer release;
	int holding;
	char health_chan[64];
	int health_sent, health_heard;
	unsigned health_missed;
	int hp_sent, hp_replied; /* the command connection's own check */
	/* publishes sent and not yet answered, oldest first (Redis answers in
	 * order): their sizes, so what a stalled Redis holds stays bounded */
	size_t *infl, infl_head, infl_n, infl_cap, infl_bytes;
	sios__redis_stats st;
	int freeing;
	struct chanfn *chanfns;
	struct relisten *relisten;
};

/* ---- URLs --------------------------------------------------------------- */

void sios__redis_url_clear(sios__redis_url *u)
{
	free(u->host);
	free(u->path);
	free(u->user);
	free(u->password);
	memset(u, 0, sizeof(*u));
}

static char *dupn(const char *s, size_t n)
{
	char *d = malloc(n + 1);

	if (d) {
		memcpy(d, s, n);
		d[n] = 0;
	}
	return d;
}

static int parse_db(const char *s, int *db)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || *end || v < 0 || v > 65535)
		return SIOS_EINVAL;
	*db = (int)v;
	return 0;
}

int sios__redis_url_parse(const char *url, sios__redis_url *u)
{
	const char *p, *at, *hostend, *slash;

	memset(u, 0, sizeof(*u));
	if (!url)
		return SIOS_EINVAL;
	if (!strncmp(url, "unix://", 7)) {
		const char *q = strchr(url + 7, '?');

		p = url + 7;
		if (*p != '/')
			return SIOS_EINVAL;
		if (q && (strncmp(q, "?db=", 4) || parse_db(q + 4, &u->db)))
			return SIOS_EINVAL;
		if (!(u->path = dupn(p, q ? (size_t)(q - p) : strlen(p))))
			return SIOS_ENOMEM;
		return 0;
	}
	if (strncmp(url, "redis://", 8))
		return SIOS_EINVAL;
	p = url + 8;
	slash = strchr(p, '/');
	at = memchr(p, '@', slash ? (size_t)(slash - p) : strlen(p));
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));

		if (colon) {
			if (colon > p && !(u->user = dupn(p, (size_t)(colon - p))))
				goto nomem;
			if (!(u->password = dupn(colon + 1, (size_t)(at - colon - 1))))
				goto nomem;
		} else if (!(u->password = dupn(p, (size_t)(at - p)))) {
			goto nomem; /* redis://password@host, as node-redis reads it */
		}
		p = at + 1;
	}
	hostend = slash ? slash : p + strlen(p);
	u->port = 6379;
	if (*p == '[') {
		const char *rb = memchr(p, ']', (size_t)(hostend - p));

		if (!rb || rb == p + 1)
			goto bad;
		if (!(u->host = dupn(p + 1, (size_t)(rb - p - 1))))
			goto nomem;
		p = rb + 1;
	} else {
		const char *colon = memchr(p, ':', (size_t)(hostend - p));
		const char *e = colon ? colon : hostend;

		if (e == p)
			goto bad;
		if (!(u->host = dupn(p, (size_t)(e - p))))
			goto nomem;
		p = e;
	}
	if (*p == ':') {
		char buf[8];
		size_t n = (size_t)(hostend - p - 1);
		char *end;
		long v;

		if (!n || n >= sizeof(buf))
			goto bad;
		memcpy(buf, p + 1, n);
		buf[n] = 0;
		v = strtol(buf, &end, 10);
		if (*end || v < 1 || v > 65535)
			goto bad;
		u->port = (int)v;
	} else if (p != hostend) {
		goto bad;
	}
	if (slash && slash[1] && parse_db(slash + 1, &u->db))
		goto bad;
	return 0;
bad:
	sios__redis_url_clear(u);
	return SIOS_EINVAL;
nomem:
	sios__redis_url_clear(u);
	return SIOS_ENOMEM;
}

/* ---- hiredis on the libuv loop ------------------------------------------- */

/* Our own attachment, not hiredis's adapters/libuv.h: in hiredis 0.14.1 it
 * drops a poll error (status != 0), which is how libuv reports a refused
 * connect, so a connection attempt to a Redis that is down never ends. Here
 * an error is handed to hiredis as readiness: it then finds the socket's
 * error itself and reports it through the connect or disconnect callback. */
struct uvev {
	redisAsyncContext *ac;
	uv_poll_t h;
	int events;
};

static void ev_poll(uv_poll_t *h, int status, int events)
{
	struct uvev *p = h->data;
	int ev = status ? p->events : events;

	if (p->ac && (ev & UV_READABLE))
		redisAsyncHandleRead(p->ac);
	if (p->ac && (ev & UV_WRITABLE))
		redisAsyncHandleWrite(p->ac);
}

static void ev_set(struct uvev *p, int add, int what)
{
	p->events = add ? p->events | what : p->events & ~what;
	if (p->events)
		uv_poll_start(&p->h, p->events, ev_poll);
	else
		uv_poll_stop(&p->h);
}

static void ev_add_read(void *d) { ev_set(d, 1, UV_READABLE); }
static void ev_del_read(void *d) { ev_set(d, 0, UV_READABLE); }
static void ev_add_write(void *d) { ev_set(d, 1, UV_WRITABLE); }
static void ev_del_write(void *d) { ev_set(d, 0, UV_WRITABLE); }

static void ev_closed(uv_handle_t *h) { free(h->data); }

static void ev_cleanup(void *d)
{
	struct uvev *p = d;

	p->ac = NULL; /* the context is going */
	uv_close((uv_handle_t *)&p->h, ev_closed);
}

static int ev_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
	struct uvev *p = calloc(1, sizeof(*p));

	if (!p)
		return REDIS_ERR;
	if (uv_poll_init(loop, &p->h, ac->c.fd)) {
		free(p);
		return REDIS_ERR;
	}
	p->h.data = p;
	p->ac = ac;
	ac->ev.addRead = ev_add_read;
	ac->ev.delRead = ev_del_read;
	ac->ev.addWrite = ev_add_write;
	ac->ev.delWrite = ev_del_write;
	ac->ev.cleanup = ev_cleanup;
	ac->ev.data = p;
	return REDIS_OK;
}

/* ---- connections -------------------------------------------------------- */

static void conn_start(struct conn *c);

static const char *conn_name(const struct conn *c)
{
	return c->is_sub ? "subscriber" : "command connection";
}

/* the connection is gone (ac already freed or being freed): try again */
static void conn_lost(struct conn *c, const char *why)
{
	sios__redis *r = c->r;

	c->ac = NULL;
	c->up = 0;
	if (!c->is_sub) {
		r->holding = 0; /* kept until the next connection */
		sios__loop_timer_cancel(r->l, &r->release);
	}
	if (r->freeing)
		return;
	if (!c->lost_logged) {
		sios__log(SIOS__LOG_WARN, "redis %s: %s %s; reconnecting", r->where, conn_name(c),
			  why);
		c->lost_logged = 1;
		c->down_since = sios__now_ms();
	}
	sios__loop_timer_add(r->l, &c->retry, c->backoff_ms);
	c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
}

/* drops a live context at once (not from inside a hiredis callback) */
static void conn_drop(struct conn *c, const char *why)
{
	redisAsyncContext *ac = c->ac;

	c->ac = NULL;
	c->up = 0;
	sios__loop_timer_cancel(c->r->l, &c->cto);
	if (ac)
		redisAsyncFree(ac); /* pending callbacks run with no reply */
	conn_lost(c, why);
}

static void on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata);

static void subscribe_one(sios__redis *r, const char *chan, int pattern)
{
	redisAsyncCommand(r->sub.ac, on_sub_reply, r, pattern ? "PSUBSCRIBE %b" : "SUBSCRIBE %b",
			  chan, strlen(chan));
}

static void on_pub_reply(redisAsyncContext *ac, void *reply, void *privdata);

static int infl_push(sios__redis *r, size_t n)
{
	if (r->infl_n == r->infl_cap) {
		size_t nc = r->infl_cap ? r->infl_cap * 2 : 64;
		size_t *nv = malloc(nc * sizeof(*nv));

		if (!nv)
			return SIOS_ENOMEM;
		for (size_t i = 0; i < r->infl_n; i++)
			nv[i] = r->infl[(r->infl_head + i) % r->infl_cap];
		free(r->infl);
		r->infl = nv;
		r->infl_cap = nc;
		r->infl_head = 0;
	}
	r->infl[(r->infl_head + r->infl_n++) % r->infl_cap] = n;
	r->infl_bytes += n;
	return 0;
}

static void infl_pop(sios__redis *r)
{
	if (!r->infl_n)
		return;
	r->infl_bytes -= r->infl[r->infl_head];
	r->infl_head = (r->infl_head + 1) % r->infl_cap;
	r->infl_n--;
}

static int send_publish(sios__redis *r, const char *chan, size_t clen, const void *data,
			size_t len)
{
	if (infl_push(r, clen + len))
		return SIOS_ENOMEM;
	if (redisAsyncCommand(r->pub.ac, on_pub_reply, r, "PUBLISH %b %b", chan, clen, data,
			      len) != REDIS_OK) {
		/* no callback will come: take it back (it is the newest) */
		r->infl_n--;
		r->infl_bytes -= clen + len;
		return SIOS_EIO;
	}
	return 0;
}

static void count_drop(sios__redis *r, const char *why)
{
	r->st.dropped++;
	sios__log_limited(SIOS__LOG_WARN,
			  "redis %s: a publish was dropped (%s); %llu dropped so far", r->where,
			  why, (unsigned long long)r->st.dropped);
}

static void flush_queue(sios__redis *r)
{
	while (r->qhead && r->pub.up && !r->holding) {
		struct qpub *q = r->qhead;

		r->qhead = q->next;
		if (!r->qhead)
			r->qtail = NULL;
		r->qbytes -= q->clen + q->len;
		if (send_publish(r, q->bytes, q->clen, q->bytes + q->clen, q->len))
			count_drop(r, "Redis refused it");
		free(q);
	}
}

static void release_cb(sios__timer *t);

static void on_connect(const redisAsyncContext *cac, int status)
{
	struct conn *c = cac->data;
	sios__redis *r = c->r;

	if (c->ac != cac)
		return;
	sios__loop_timer_cancel(r->l, &c->cto);
	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback */
		conn_lost(c, cac->errstr[0] ? cac->errstr : "cannot connect");
		return;
	}
	c->up = 1;
	/* with a password the backoff starts again once AUTH is accepted: a
	 * wrong one is retried once a second, not ten times */
	if (!r->url.password)
		c->backoff_ms = BACKOFF_MIN_MS;
	redisEnableKeepAlive(&((redisAsyncContext *)cac)->c); /* a vanished peer is noticed */
	if (c->was_up)
		r->st.reconnects++;
	if (c->lost_logged)
		sios__log(SIOS__LOG_WARN, "redis %s: %s back after %llu ms", r->where, conn_name(c),
			  (unsigned long long)(sios__now_ms() - c->down_since));
	c->lost_logged = 0;
	c->was_up = 1;
	if (c->is_sub) {
		/* every subscription again: a new connection has none */
		for (struct subrec *s = r->subs; s; s = s->next)
			subscribe_one(r, s->chan, s->pattern);
		subscribe_one(r, r->health_chan, 0);
		r->health_sent = r->health_heard = 0;
		r->health_missed = 0;
	} else {
		r->hp_sent = 0;
		/* the first connection too: what was meant for Redis before it
		 * came is written now */
		for (struct relisten *l = r->relisten; l; l = l->next)
			l->fn(l->ud);
		if (r->qhead) {
			r->holding = 1;
			sios__loop_timer_add(r->l, &r->release, BACKOFF_MAX_MS + 250);
		}
	}
}

static void release_cb(sios__timer *t)
{
	sios__redis *r = sios__container_of(t, sios__redis, release);

	r->holding = 0;
	flush_queue(r);
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
	struct conn *c = cac->data;

	(void)status;
	if (c->ac != cac)
		return; /* dropped by us: already handled */
	conn_lost(c, cac->errstr[0] ? cac->errstr : "closed");
}

static void on_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct conn *c = privdata;
	redisReply *rep = reply;

	if (!rep || c->ac != ac)
		return;
	if (rep->type == REDIS_REPLY_ERROR) {
		sios__log_limited(SIOS__LOG_ERR, "redis %s: %s refused: %s", c->r->where,
				  rep->str && !strncmp(rep->str, "ERR DB", 6) ? "SELECT" : "AUTH",
				  rep->str ? rep->str : "");
		redisAsyncDisconnect(ac); /* then again, with the backoff */
	} else if (rep->type == REDIS_REPLY_STATUS && rep->str && !strcmp(rep->str, "OK")) {
		c->backoff_ms = BACKOFF_MIN_MS;
	}
}

static void connect_timeout(sios__timer *t)
{
	struct conn *c = sios__container_of(t, struct conn, cto);

	if (c->ac && !c->up)
		conn_drop(c, "connect timed out");
}

static void retry_cb(sios__timer *t)
{
	struct conn *c = sios__container_of(t, struct conn, retry);

	if (!c->ac && !c->r->freeing)
		conn_start(c);
}

static void conn_start(struct conn *c)
{
	sios__redis *r = c->r;
	redisAsyncContext *ac = r->url.path ? redisAsyncConnectUnix(r->url.path)
					    : redisAsyncConnect(r->url.host, r->url.port);

	if (!ac || ac->err) {
		const char *why = ac && ac->errstr[0] ? ac->errstr : "cannot connect";
		char copy[128];

		snprintf(copy, sizeof(copy), "%s", why);
		if (ac)
			redisAsyncFree(ac);
		conn_lost(c, copy);
		return;
	}
	ac->data = c;
	if (ev_attach(ac, r->l->uv) != REDIS_OK) {
		redisAsyncFree(ac);
		conn_lost(c, "cannot watch the socket");
		return;
	}
	c->ac = ac;
	redisAsyncSetConnectCallback(ac, on_connect);
	redisAsyncSetDisconnectCallback(ac, on_disconnect);
	if (r->url.password) {
		if (r->url.user)
			redisAsyncCommand(ac, on_auth, c, "AUTH %s %s", r->url.user, r->url.password);
		else
			redisAsyncCommand(ac, on_auth, c, "AUTH %s", r->url.password);
	}
	if (r->url.db && !c->is_sub)
		redisAsyncCommand(ac, on_auth, c, "SELECT %d", r->url.db);
	sios__loop_timer_add(r->l, &c->cto, CONNECT_TIMEOUT_MS);
}

/* ---- replies ------------------------------------------------------------ */

static void on_pub_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	sios__redis *r = privdata;
	redisReply *rep = reply;

	(void)ac;
	infl_pop(r);
	if (rep && rep->type == REDIS_REPLY_INTEGER)
		r->st.published++;
	else
		count_drop(r, rep ? "error reply" : "the connection was lost with it in flight");
}

static void on_sub_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	sios__redis *r = privdata;
	redisReply *rep = reply, *chan, *data;

	if (!rep || ac != r->sub.ac || rep->type != REDIS_REPLY_ARRAY || rep->elements < 3 ||
	    rep->element[0]->type != REDIS_REPLY_STRING)
		return;
	if (!strcmp(rep->element[0]->str, "message")) {
		chan = rep->element[1];
		data = rep->element[2];
	} else if (!strcmp(rep->element[0]->str, "pmessage") && rep->elements >= 4) {
		chan = rep->element[2];
		data = rep->element[3];
	} else {
		return; /* (p)subscribe confirmations */
	}
	if (chan->type != REDIS_REPLY_STRING || data->type != REDIS_REPLY_STRING)
		return;
	if (!strcmp(chan->str, r->health_chan)) {
		r->health_heard = 1;
		return;
	}
	for (struct chanfn *f = r->chanfns; f; f = f->next)
		if (!strcmp(chan->str, f->chan)) {
			f->fn(f->ud, chan->str, chan->len, data->str, data->len);
			return;
		}
	if (r->o.on_message)
		r->o.on_message(r->o.ud, chan->str, chan->len, data->str, data->len);
}

static void on_numsub(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct numsub_req *q = privdata;
	redisReply *rep = reply;

	(void)ac;
	if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
	    rep->element[1]->type == REDIS_REPLY_INTEGER)
		q->cb(q->ud, 0, rep->element[1]->integer);
	else
		q->cb(q->ud, q->r->freeing ? SIOS_ECLOSED : SIOS_EIO, 0);
	free(q);
}

/* ---- the health check --------------------------------------------------- */

static void on_health_pub(redisAsyncContext *ac, void *reply, void *privdata)
{
	sios__redis *r = privdata;

	if (reply && ac == r->pub.ac)
		r->hp_replied = 1;
}

/* Every health_ms the command connection publishes to a channel of this
 * server's own. It must answer before the next check, or it is made again
 * (Redis stalled, or the connection is half open); the subscriber must hear
 * it, and after two checks in a row unheard it is made again (a subscriber
 * can stay connected and hear nothing). */
static void health_cb(sios__timer *t)
{
	sios__redis *r = sios__container_of(t, sios__redis, health);

	if (r->pub.up && r->hp_sent && !r->hp_replied) {
		r->st.deaf++;
		conn_drop(&r->pub, "answered nothing for a whole health period");
	}
	if (r->pub.up && r->sub.up) {
		if (r->health_sent && !r->health_heard) {
			if (++r->health_missed >= 2) {
				r->st.deaf++;
				conn_drop(&r->sub, "heard nothing of its health check");
			}
		} else {
			r->health_missed = 0;
		}
	}
	if (r->pub.up) {
		r->hp_sent = 1;
		r->hp_replied = 0;
		r->health_sent = r->sub.up;
		r->health_heard = 0;
		redisAsyncCommand(r->pub.ac, on_health_pub, r, "PUBLISH %s 1", r->health_chan);
	}
	sios__loop_timer_add(r->l, &r->health, r->o.health_ms);
}

/* ---- the API ------------------------------------------------------------ */

int sios__redis_new(sios__loop *l, const sios__redis_opts *o, sios__redis **out)
{
	sios__redis *r = calloc(1, sizeof(*r));
	char id[SIOS__ID_LEN + 1];
	int rc;

	*out = NULL;
	if (!r)
		return SIOS_ENOMEM;
	if ((rc = sios__redis_url_parse(o->url, &r->url))) {
		free(r);
		return rc;
	}
	r->l = l;
	r->o = *o;
	r->o.url = NULL;
	if (!r->o.health_ms)
		r->o.health_ms = 2000;
	if (!r->o.max_buffered)
		r->o.max_buffered = 8u << 20;
	if (r->url.path)
		snprintf(r->where, sizeof(r->where), "unix:%s", r->url.path);
	else
		snprintf(r->where, sizeof(r->where), strchr(r->url.host, ':') ? "[%s]:%d" : "%s:%d",
			 r->url.host, r->url.port);
	sios__id(id);
	snprintf(r->health_chan, sizeof(r->health_chan), "sios-health#%s", id);
	r->pub.r = r->sub.r = r;
	r->sub.is_sub = 1;
	r->pub.backoff_ms = r->sub.backoff_ms = BACKOFF_MIN_MS;
	sios__timer_init(&r->pub.retry, retry_cb);
	sios__timer_init(&r->sub.retry, retry_cb);
	sios__timer_init(&r->pub.cto, connect_timeout);
	sios__timer_init(&r->sub.cto, connect_timeout);
	sios__timer_init(&r->health, health_cb);
	sios__timer_init(&r->release, release_cb);
	conn_start(&r->sub);
	conn_start(&r->pub);
	sios__loop_timer_add(l, &r->health, r->o.health_ms);
	*out = r;
	return 0;
}

void sios__redis_free(sios__redis *r, sios__redis_stats *last)
{
	if (!r)
		return;
	r->freeing = 1;
	sios__loop_timer_cancel(r->l, &r->health);
	sios__loop_timer_cancel(r->l, &r->release);
	for (int i = 0; i < 2; i++) {
		struct conn *c = i ? &r->sub : &r->pub;
		redisAsyncContext *ac = c->ac;

		sios__loop_timer_cancel(r->l, &c->retry);
		sios__loop_timer_cancel(r->l, &c->cto);
		c->ac = NULL;
		c->up = 0;
		if (ac)
			redisAsyncFree(ac); /* pending callbacks: SIOS_ECLOSED */
	}
	while (r->qhead) {
		struct qpub *q = r->qhead;

		r->qhead = q->next;
		r->st.dropped++;
		free(q);
	}
	while (r->subs) {
		struct subrec *s = r->subs;

		r->subs = s->next;
		free(s->chan);
		free(s);
	}
	while (r->chanfns) {
		struct chanfn *f = r->chanfns;

		r->chanfns = f->next;
		free(f->chan);
		free(f);
	}
	while (r->relisten) {
		struct relisten *l = r->relisten;

		r->relisten = l->next;
		free(l);
	}
	if (last)
		*last = r->st;
	free(r->infl);
	sios__redis_url_clear(&r->url);
	free(r);
}

int sios__redis_subscribe(sios__redis *r, const char *chan, int pattern)
{
	struct subrec *s;

	for (s = r->subs; s; s = s->next)
		if (s->pattern == pattern && !strcmp(s->chan, chan)) {
			s->holders++;
			return 0;
		}
	if (!(s = calloc(1, sizeof(*s))) || !(s->chan = sios__strdup(chan))) {
		free(s);
		return SIOS_ENOMEM;
	}
	s->pattern = pattern;
	s->holders = 1;
	s->next = r->subs;
	r->subs = s;
	if (r->sub.up)
		subscribe_one(r, chan, pattern);
	return 0;
}

void sios__redis_unsubscribe(sios__redis *r, const char *chan, int pattern)
{
	for (struct subrec **pp = &r->subs; *pp; pp = &(*pp)->next) {
		struct subrec *s = *pp;

		if (s->pattern != pattern || strcmp(s->chan, chan))
			continue;
		if (--s->holders)
			return;
		*pp = s->next;
		if (r->sub.up)
			redisAsyncCommand(r->sub.ac, on_sub_reply, r,
					  pattern ? "PUNSUBSCRIBE %b" : "UNSUBSCRIBE %b", s->chan,
					  strlen(s->chan));
		free(s->chan);
		free(s);
		return;
	}
}

int sios__redis_publish(sios__redis *r, const char *chan, size_t clen, const void *data,
			size_t len)
{
	struct qpub *q;

	if (r->pub.up && !r->holding) {
		if (r->infl_bytes + clen + len > r->o.max_buffered) {
			count_drop(r, "Redis is not keeping up");
			return SIOS_EDROPPED;
		}
		if (send_publish(r, chan, clen, data, len)) {
			count_drop(r, "the connection is closing");
			return SIOS_EDROPPED;
		}
		return 0;
	}
	if (r->qbytes + clen + len > r->o.max_buffered || !(q = malloc(sizeof(*q) + clen + len))) {
		count_drop(r, "Redis is down and the buffer is full");
		return SIOS_EDROPPED;
	}
	q->next = NULL;
	q->clen = clen;
	q->len = len;
	memcpy(q->bytes, chan, clen);
	memcpy(q->bytes + clen, data, len);
	if (r->qtail)
		r->qtail->next = q;
	else
		r->qhead = q;
	r->qtail = q;
	r->qbytes += clen + len;
	return 0;
}

int sios__redis_numsub(sios__redis *r, const char *chan, sios__redis_int_fn cb, void *ud)
{
	struct numsub_req *q;

	if (!r->pub.up)
		return SIOS_EIO;
	if (!(q = malloc(sizeof(*q))))
		return SIOS_ENOMEM;
	q->r = r;
	q->cb = cb;
	q->ud = ud;
	if (redisAsyncCommand(r->pub.ac, on_numsub, q, "PUBSUB NUMSUB %b", chan, strlen(chan)) !=
	    REDIS_OK) {
		free(q);
		return SIOS_EIO;
	}
	return 0;
}

int sios__redis_ready(const sios__redis *r) { return r->pub.up && r->sub.up; }

void sios__redis_get_stats(const sios__redis *r, sios__redis_stats *out) { *out = r->st; }

static void on_cmd(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct cmd_req *q = privdata;

	(void)ac;
	q->cb(q->ud, reply ? 0 : q->r->freeing ? SIOS_ECLOSED : SIOS_EIO, reply);
	free(q);
}

int sios__redis_command_argv(sios__redis *r, sios__redis_reply_fn cb, void *ud, int argc,
			     const char **argv, const size_t *lens)
{
	struct cmd_req *q;

	if (!r->pub.up)
		return SIOS_EIO;
	if (!(q = malloc(sizeof(*q))))
		return SIOS_ENOMEM;
	q->r = r;
	q->cb = cb;
	q->ud = ud;
	if (redisAsyncCommandArgv(r->pub.ac, on_cmd, q, argc, argv, lens) != REDIS_OK) {
		free(q);
		return SIOS_EIO;
	}
	return 0;
}

int sios__redis_subscribe_fn(sios__redis *r, const char *channel, sios__redis_msg_fn fn,
			     void *ud)
{
	struct chanfn *f = calloc(1, sizeof(*f));
	int rc;

	if (!f || !(f->chan = sios__strdup(channel))) {
		free(f);
		return SIOS_ENOMEM;
	}
	if ((rc = sios__redis_subscribe(r, channel, 0))) {
		free(f->chan);
		free(f);
		return rc;
	}
	f->fn = fn;
	f->ud = ud;
	f->next = r->chanfns;
	r->chanfns = f;
	return 0;
}

void sios__redis_unsubscribe_fn(sios__redis *r, const char *channel)
{
	for (struct chanfn **pp = &r->chanfns; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->chan, channel)) {
			struct chanfn *f = *pp;

			*pp = f->next;
			sios__redis_unsubscribe(r, channel, 0);
			free(f->chan);
			free(f);
			return;
		}
}

int sios__redis_on_reconnect(sios__redis *r, void (*fn)(void *ud), void *ud)
{
	struct relisten *l = malloc(sizeof(*l));

	if (!l)
		return SIOS_ENOMEM;
	l->fn = fn;
	l->ud = ud;
	l->next = r->relisten;
	r->relisten = l;
	return 0;
}

void sios__redis_off_reconnect(sios__redis *r, void *ud)
{
	for (struct relisten **pp = &r->relisten; *pp; pp = &(*pp)->next)
		if ((*pp)->ud == ud) {
			struct relisten *l = *pp;

			*pp = l->next;
			free(l);
			return;
		}
}
