/* Acknowledgements, one module: the acks a socket owes the server (a list
 * per socket with a hash index by id), the ack handles the application is
 * given for the acks it owes a client, and the tracker that gathers the
 * answers to a broadcast with an ack. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

/* A gathered broadcast acknowledgement: done when the servers that will
 * report are known, all have reported their client counts, and that many
 * answers (or departures of local recipients) have come. */
struct sios__bcast_ack {
	size_t servers, reported; /* servers to report (known once servers_known) */
	int servers_known;
	size_t expected, done;    /* clients asked, answered or gone */
	struct sios_event **resp;
	size_t nresp;
	sios_broadcast_ack_cb cb;
	void *ud;
	/* a relay (another server's broadcast): answers and the end go here */
	sios__relay_answer_fn relay;
	void (*relay_done)(void *ud);
	sios__timer timer;
	sios_server *srv;
	int refs, finished;
};

/* an ack a socket owes: for sios_emit_with_ack(), or for a broadcast */
struct sios__pending_ack {
	long long id;
	sios_ack_cb cb;
	void *ud;
	struct sios__bcast_ack *bcast;
	sios_socket *sock;
	sios__timer timer;
	struct sios__pending_ack *prev, *next;
	char key[24]; /* the id in decimal, for the socket's index */
};

/* what sios_event_take_ack() hands out: the socket is looked up again by
 * namespace and id when the answer is sent */
struct sios_ack {
	sios_server *srv;
	char *nsp;
	char sid[SIOS__ID_LEN + 1];
	long long id;
};

/* ---- the index of pending acks --------------------------------------- */

/* A socket's pending acks: a list, plus a hash index by id once there are
 * more than a few, so answers (or ids that match nothing) cost O(1) however
 * many are pending. */
#define ACK_INDEX_AT 8

static int ack_add(sios_socket *s, struct sios__pending_ack *a)
{
	snprintf(a->key, sizeof(a->key), "%lld", a->id);
	if (!s->ack_idx && s->nacks >= ACK_INDEX_AT) {
		if (!(s->ack_idx = malloc(sizeof(*s->ack_idx))))
			return SIOS_ENOMEM;
		sios__map_init(s->ack_idx);
		for (struct sios__pending_ack *o = s->acks; o; o = o->next)
			if (sios__map_put(s->ack_idx, o->key, o))
				return SIOS_ENOMEM;
	}
	if (s->ack_idx && sios__map_put(s->ack_idx, a->key, a))
		return SIOS_ENOMEM;
	a->prev = NULL;
	a->next = s->acks;
	if (s->acks)
		s->acks->prev = a;
	s->acks = a;
	s->nacks++;
	return 0;
}

static void ack_remove(sios_socket *s, struct sios__pending_ack *a)
{
	if (s->ack_idx)
		sios__map_del(s->ack_idx, a->key);
	if (a->prev)
		a->prev->next = a->next;
	else
		s->acks = a->next;
	if (a->next)
		a->next->prev = a->prev;
	s->nacks--;
	if (!s->nacks && s->ack_idx) {
		sios__map_free(s->ack_idx);
		free(s->ack_idx);
		s->ack_idx = NULL;
	}
}

static struct sios__pending_ack *ack_find(sios_socket *s, long long id)
{
	char key[24];

	if (s->ack_idx) {
		snprintf(key, sizeof(key), "%lld", id);
		return sios__map_get(s->ack_idx, key);
	}
	for (struct sios__pending_ack *a = s->acks; a; a = a->next)
		if (a->id == id)
			return a;
	return NULL;
}

/* ---- broadcast acks -------------------------------------------------- */

static void event_free(struct sios_event *ev)
{
	if (!ev)
		return;
	cJSON_Delete(ev->args);
	for (size_t i = 0; i < ev->nbins; i++)
		free((void *)ev->bins[i].data);
	free((void *)ev->bins);
	free(ev);
}

void sios__bcast_ack_unref(struct sios__bcast_ack *b)
{
	if (--b->refs)
		return;
	for (size_t i = 0; i < b->nresp; i++)
		event_free(b->resp[i]);
	free(b->resp);
	free(b);
}

void sios__bcast_ack_ref(struct sios__bcast_ack *b) { b->refs++; }

int sios__bcast_ack_done(const struct sios__bcast_ack *b) { return b->finished; }

static void bcast_finish(struct sios__bcast_ack *b, int status)
{
	if (b->finished)
		return;
	b->finished = 1;
	sios__loop_timer_cancel(&b->srv->loop, &b->timer);
	if (b->relay_done)
		b->relay_done(b->ud);
	else
		b->cb(status, (const sios_event *const *)b->resp, b->nresp, b->ud);
	sios__bcast_ack_unref(b); /* the reference of the pending callback */
}

void sios__bcast_ack_cancel(struct sios__bcast_ack *b)
{
	if (b->finished)
		return;
	b->finished = 1;
	sios__loop_timer_cancel(&b->srv->loop, &b->timer);
	sios__bcast_ack_unref(b);
}

void sios__bcast_ack_end(struct sios__bcast_ack *b, int status)
{
	bcast_finish(b, status);
}

static void bcast_check(struct sios__bcast_ack *b)
{
	if (!b->finished && b->servers_known && b->reported >= b->servers &&
	    b->done >= b->expected)
		bcast_finish(b, 0);
}

static void bcast_timeout(sios__timer *t)
{
	struct sios__bcast_ack *b = sios__container_of(t, struct sios__bcast_ack, timer);
	sios_server *srv = b->srv;

	sios__core_enter(srv);
	bcast_finish(b, SIOS_ETIMEDOUT);
	sios__core_leave(srv);
}

/* an answer: args and binaries copied, with the id of the socket when it
 * is a local one */
static void bcast_keep(struct sios__bcast_ack *b, const char *sid, const cJSON *args,
		       const sios_binary *ebins, size_t nbins)
{
	struct sios_event *copy = calloc(1, sizeof(*copy));
	struct sios_event **nr = realloc(b->resp, (b->nresp + 1) * sizeof(*nr));

	if (nr)
		b->resp = nr;
	if (!copy || !nr) {
		free(copy);
		return;
	}
	{
		sios_binary *bins = nbins ? calloc(nbins, sizeof(*bins)) : NULL;

		copy->args = args ? cJSON_Duplicate(args, 1) : cJSON_CreateArray();
		copy->ack_id = -1;
		if (sid)
			memcpy(copy->sid, sid, sizeof(copy->sid));
		for (size_t i = 0; bins && i < nbins; i++) {
			void *d = malloc(ebins[i].len ? ebins[i].len : 1);

			if (d && ebins[i].len)
				memcpy(d, ebins[i].data, ebins[i].len);
			bins[i].data = d;
			bins[i].len = d ? ebins[i].len : 0;
		}
		copy->bins = bins;
		copy->nbins = bins ? nbins : 0;
	}
	b->resp[b->nresp++] = copy;
}

/* one local recipient is done: answered (ev non-NULL) or gone */
static void bcast_done(struct sios__bcast_ack *b, sios_socket *s, const struct sios_event *ev)
{
	if (!b->finished && ev) {
		if (b->relay)
			b->relay(b->ud, ev->args, ev->bins, ev->nbins);
		else
			bcast_keep(b, s->id, ev->args, ev->bins, ev->nbins);
	}
	b->done++;
	bcast_check(b);
	sios__bcast_ack_unref(b); /* the recipient's reference */
}

void sios__bcast_ack_servers(struct sios__bcast_ack *b, size_t n)
{
	b->servers = n;
	b->servers_known = 1;
	bcast_check(b);
}

void sios__bcast_ack_count(struct sios__bcast_ack *b, size_t clients)
{
	if (b->finished)
		return;
	b->reported++;
	b->expected += clients;
	bcast_check(b);
}

void sios__bcast_ack_answer(struct sios__bcast_ack *b, const cJSON *args,
			    const sios_binary *bins, size_t nbins)
{
	if (b->finished)
		return;
	bcast_keep(b, NULL, args, bins, nbins);
	b->done++;
	bcast_check(b);
}

struct sios__bcast_ack *sios__bcast_ack_new(sios_server *srv, sios_broadcast_ack_cb cb, void *ud,
					    unsigned timeout_ms)
{
	struct sios__bcast_ack *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	b->srv = srv;
	b->cb = cb;
	b->ud = ud;
	b->refs = 1; /* held until the callback has run */
	sios__timer_init(&b->timer, bcast_timeout);
	if (timeout_ms)
		sios__loop_timer_add(&srv->loop, &b->timer, timeout_ms);
	return b;
}

struct sios__bcast_ack *sios__bcast_ack_relay(struct sios_nsp *nsp, unsigned timeout_ms,
					      sios__relay_answer_fn answer,
					      void (*done)(void *ud), void *ud)
{
	struct sios__bcast_ack *b = sios__bcast_ack_new(nsp->srv, NULL, ud, timeout_ms);

	if (b) {
		b->relay = answer;
		b->relay_done = done;
		b->refs++; /* the adapter's */
	}
	return b;
}

void sios__local_register_ack(sios_socket *s, long long id, struct sios__bcast_ack *b)
{
	struct sios__pending_ack *a = calloc(1, sizeof(*a));

	if (!a)
		return;
	a->id = id;
	a->bcast = b;
	a->sock = s;
	sios__timer_init(&a->timer, NULL);
	if (ack_add(s, a)) {
		free(a);
		return;
	}
	sios__bcast_ack_ref(b);
}

/* ---- what a socket owes ---------------------------------------------- */

int sios__local_ack_room(const sios_socket *s)
{
	return s->nacks < s->nsp->srv->cfg.max_pending_acks;
}

static void ack_timeout(sios__timer *t)
{
	struct sios__pending_ack *a = sios__container_of(t, struct sios__pending_ack, timer);
	sios_socket *s = a->sock;
	sios_server *srv = s->nsp->srv;

	sios__core_enter(srv);
	ack_remove(s, a);
	a->cb(s, SIOS_ETIMEDOUT, NULL, a->ud);
	free(a);
	sios__core_leave(srv);
}

SIOS_EXPORT int sios_emit_with_ack(sios_socket *s, const char *event, const cJSON *args,
				   const sios_binary *bins, size_t nbins, unsigned timeout_ms,
				   sios_ack_cb cb, void *ud)
{
	struct sios__pending_ack *a;
	int r;

	if (s && SIOS__OFF_LOOP(&s->nsp->srv->loop))
		return SIOS_EMISUSE;
	if (!s || !cb || !sios__emit_ok(event, bins, nbins))
		return SIOS_EINVAL;
	if (s->state != SIOS__SOCK_CONNECTED)
		return SIOS_ECLOSED;
	if (!sios__local_ack_room(s))
		return SIOS_ETOOBIG; /* sios_config_set_max_pending_acks() */
	a = calloc(1, sizeof(*a));
	if (!a)
		return SIOS_ENOMEM;
	a->id = s->nsp->next_ack++;
	r = sios__socket_send(s, 0, a->id, event, args, bins, nbins, 0);
	if (r) {
		free(a);
		return r;
	}
	a->cb = cb;
	a->ud = ud;
	a->sock = s;
	sios__timer_init(&a->timer, ack_timeout);
	if (ack_add(s, a)) {
		/* the packet is out: its answer will match nothing */
		free(a);
		return SIOS_ENOMEM;
	}
	if (timeout_ms)
		sios__loop_timer_add(&s->nsp->srv->loop, &a->timer, timeout_ms);
	return 0;
}

/* The client answered the ack id (an ACK packet): its pending ack, if
 * any, completes; an id that matches nothing is ignored. */
void sios__ack_answer(sios_socket *s, long long id, cJSON *args, const sios_binary *bins,
		      size_t nbins)
{
	struct sios__pending_ack *a;
	struct sios_event ev;

	if (!(a = ack_find(s, id))) {
		sios__log(SIOS__LOG_DEBUG, "socket %s: unknown ack id %lld", s->id, id);
		return;
	}
	ack_remove(s, a);
	sios__loop_timer_cancel(&s->nsp->srv->loop, &a->timer);
	memset(&ev, 0, sizeof(ev));
	ev.args = args;
	ev.bins = bins;
	ev.nbins = nbins;
	ev.ack_id = -1;
	memcpy(ev.sid, s->id, sizeof(ev.sid));
	if (a->bcast)
		bcast_done(a->bcast, s, &ev);
	else
		a->cb(s, 0, &ev, a->ud);
	free(a);
}

/* The socket is gone: every ack it still owes fails, once. */
void sios__acks_fail(sios_socket *s)
{
	while (s->acks) {
		struct sios__pending_ack *a = s->acks;

		ack_remove(s, a);
		sios__loop_timer_cancel(&s->nsp->srv->loop, &a->timer);
		if (a->bcast)
			bcast_done(a->bcast, s, NULL);
		else
			a->cb(NULL, SIOS_ECLOSED, NULL, a->ud);
		free(a);
	}
}

/* ---- what the application owes a client ------------------------------ */

SIOS_EXPORT int sios_event_wants_ack(const sios_event *ev)
{
	return ev && ev->ack_id >= 0 && !ev->ack_taken && ev->sock;
}

SIOS_EXPORT sios_ack *sios_event_take_ack(const sios_event *cev)
{
	struct sios_event *ev = (struct sios_event *)cev;
	sios_ack *a;

	if (!sios_event_wants_ack(ev))
		return NULL;
	a = calloc(1, sizeof(*a));
	if (!a || !(a->nsp = sios__strdup(ev->sock->nsp->name))) {
		free(a);
		return NULL;
	}
	ev->ack_taken = 1;
	a->srv = ev->sock->nsp->srv;
	memcpy(a->sid, ev->sock->id, sizeof(a->sid));
	a->id = ev->ack_id;
	return a;
}

SIOS_EXPORT void sios_ack_drop(sios_ack *a)
{
	if (a) {
		free(a->nsp);
		free(a);
	}
}

SIOS_EXPORT int sios_ack_send(sios_ack *a, const cJSON *args, const sios_binary *bins,
			      size_t nbins)
{
	struct sios_nsp *nsp;
	sios_socket *s = NULL;
	int r;

	if (a && SIOS__OFF_LOOP(&a->srv->loop))
		return SIOS_EMISUSE;
	if (!a || (nbins && !bins) || (args && !cJSON_IsArray(args))) {
		sios_ack_drop(a);
		return SIOS_EINVAL;
	}
	/* looked up by name and id: the namespace may be gone too */
	nsp = sios__nsp_find(a->srv, a->nsp);
	if (nsp)
		s = sios__map_get(&nsp->sockets, a->sid);
	if (!s || s->state != SIOS__SOCK_CONNECTED) {
		sios_ack_drop(a);
		return SIOS_ECLOSED;
	}
	r = sios__socket_send(s, 1, a->id, NULL, args, bins, nbins, 0);
	sios_ack_drop(a);
	return r;
}
