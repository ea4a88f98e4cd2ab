/* The Redis adapter: the namespaces of several servers, sios or Node, share
 * their rooms through Redis pub/sub, in the wire format of Node's
 * @socket.io/redis-adapter 8.3 (its default createAdapter):
 *
 *   prefix#nsp#          broadcasts (msgpack [uid, packet, opts]); with
 *   prefix#nsp#room#     exactly one room, the room's channel
 *   prefix-request#nsp#  requests (JSON; a broadcast with acks in msgpack)
 *   prefix-response#nsp# answers (JSON; a client's ack in msgpack), also
 *                        read on prefix-response#nsp#uid#
 *
 * One pair of connections per server (lib/redis), shared by its
 * namespaces; one uid per namespace, as Node has. A request waits for
 * every other server, counted with PUBSUB NUMSUB on the request channel,
 * and completes once: with every answer, or at its timeout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "redis_int.h"

#define DEFAULT_TIMEOUT_MS 5000
/* how long the answers to a broadcast with acks and no timeout are awaited */
#define ACK_WAIT_MAX_MS 60000

static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Node's uid2(6) */
static void uid6(char out[8])
{
	unsigned char b[6];

	sios__random(b, sizeof(b));
	for (int i = 0; i < 6; i++)
		out[i] = ALPHABET[b[i] % 64];
	out[6] = 0;
}

static char *strcat3(const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
	char *s = malloc(la + lb + lc + 1);

	if (s) {
		memcpy(s, a, la);
		memcpy(s + la, b, lb);
		memcpy(s + la + lb, c, lc + 1);
	}
	return s;
}

static cJSON *strv_json(char *const *v, size_t n)
{
	cJSON *arr = cJSON_CreateArray();

	for (size_t i = 0; arr && i < n; i++)
		if (!cJSON_AddItemToArray(arr, cJSON_CreateString(v[i]))) {
			cJSON_Delete(arr);
			return NULL;
		}
	return arr;
}

/* ---- publishing --------------------------------------------------------- */

int sios__ra_publish(radapter *a, const char *chan, const char *data, size_t len)
{
	if (!a->ctx->r)
		return SIOS_ECLOSED;
	return sios__redis_publish(a->ctx->r, chan, strlen(chan), data, len);
}

int sios__ra_publish_json(radapter *a, const char *chan, cJSON *msg)
{
	char *s = msg ? cJSON_PrintUnformatted(msg) : NULL;
	int r = s ? sios__ra_publish(a, chan, s, strlen(s)) : SIOS_ENOMEM;

	free(s);
	cJSON_Delete(msg);
	return r;
}

/* {"uid", "type"}: a request's head, as Node orders it */
static cJSON *request_msg(radapter *a, int type)
{
	cJSON *m = cJSON_CreateObject();

	if (m && (!cJSON_AddStringToObject(m, "uid", a->uid) ||
		  !cJSON_AddNumberToObject(m, "type", type))) {
		cJSON_Delete(m);
		return NULL;
	}
	return m;
}

static int add_opts(cJSON *m, const sios__sel *sel)
{
	cJSON *o = cJSON_AddObjectToObject(m, "opts");

	return o && cJSON_AddItemToObject(o, "rooms", strv_json(sel->rooms, sel->nrooms)) &&
	       cJSON_AddItemToObject(o, "except", strv_json(sel->except, sel->nexcept));
}

/* ---- the request table -------------------------------------------------- */

static void req_destroy(struct req *q)
{
	if (q->b)
		sios__bcast_ack_unref(q->b);
	cJSON_Delete(q->acc);
	cJSON_Delete(q->msg);
	sios__strv_free(&q->sel.rooms, &q->sel.nrooms);
	sios__strv_free(&q->sel.except, &q->sel.nexcept);
	free(q);
}

void sios__ra_req_free(struct req *q)
{
	if (q->a) {
		sios__loop_timer_cancel(q->a->ctx->loop, &q->timer);
		sios__map_del(&q->a->reqs, q->id);
		q->a = NULL;
	}
	if (!q->counting) /* else NUMSUB's answer frees it */
		req_destroy(q);
}

void sios__ra_req_complete(struct req *q, int status)
{
	struct sios_nsp *nsp = q->a->base.nsp;

	sios__nsp_enter(nsp);
	if (!q->done) {
		q->done = 1;
		switch (q->type) {
		case T_REMOTE_FETCH:
			q->cb.fetch(status, q->acc, q->ud);
			break;
		case T_ALL_ROOMS:
			q->cb.rooms(status, q->acc, q->ud);
			break;
		case T_SERVER_SIDE_EMIT:
			q->cb.answers(status, q->acc, q->ud);
			break;
		case T_COUNT:
			q->cb.count(status, status ? 0 : q->got, q->ud);
			break;
		}
	}
	sios__ra_req_free(q);
	sios__nsp_leave(nsp);
}

static void req_timeout(sios__timer *t)
{
	struct req *q = sios__container_of(t, struct req, timer);

	if (q->type == T_BROADCAST) {
		/* the wait is over (the scope's timeout, or ACK_WAIT_MAX_MS
		 * without one): a client of another server that left without
		 * answering is never reported, so the tracker ends here */
		struct sios_nsp *nsp = q->a->base.nsp;

		sios__nsp_enter(nsp);
		sios__bcast_ack_end(q->b, SIOS_ETIMEDOUT);
		sios__ra_req_free(q);
		sios__nsp_leave(nsp);
	} else {
		sios__ra_req_complete(q, SIOS_ETIMEDOUT);
	}
}

static struct req *req_new(radapter *a, int type, unsigned timeout_ms)
{
	struct req *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->a = a;
	q->type = type;
	do
		uid6(q->id);
	while (sios__map_get(&a->reqs, q->id));
	if (sios__map_put(&a->reqs, q->id, q)) {
		free(q);
		return NULL;
	}
	sios__timer_init(&q->timer, req_timeout);
	sios__loop_timer_add(a->ctx->loop, &q->timer, timeout_ms ? timeout_ms : a->ctx->timeout_ms);
	return q;
}

/* NUMSUB on the request channel has answered: how many servers (this one
 * included) share the namespace */
static void counted(void *ud, int status, long long n)
{
	struct req *q = ud;
	struct sios_nsp *nsp;

	q->counting = 0;
	if (!q->a) {
		req_destroy(q); /* its adapter closed meanwhile */
		return;
	}
	if (status && status != SIOS_ECLOSED)
		status = SIOS_EIO;
	nsp = q->a->base.nsp;
	sios__nsp_enter(nsp);
	switch (q->type) {
	case T_COUNT:
		q->got = n > 0 ? (size_t)n : 1;
		sios__ra_req_complete(q, status);
		break;
	case T_BROADCAST:
		if (status)
			sios__log_limited(SIOS__LOG_WARN,
					  "redis adapter %s: cannot count the servers; a broadcast "
					  "with acks waits for this server's clients only",
					  sios__nsp_name(nsp));
		sios__bcast_ack_servers(q->b, status || n < 1 ? 1 : (size_t)n);
		if (sios__bcast_ack_done(q->b))
			sios__ra_req_free(q);
		break;
	default:
		/* this server's part first, then the others' */
		if (q->type == T_REMOTE_FETCH)
			q->acc = sios__local_fetch(&q->sel);
		else if (q->type == T_ALL_ROOMS)
			q->acc = sios__local_rooms(nsp);
		else
			q->acc = cJSON_CreateArray();
		q->expected = !status && n > 1 ? (size_t)n - 1 : 0;
		if (!q->acc)
			sios__ra_req_complete(q, SIOS_ENOMEM);
		else if (status || !q->expected)
			sios__ra_req_complete(q, status);
		else {
			sios__ra_publish_json(q->a, q->a->reqchan, q->msg);
			q->msg = NULL;
		}
	}
	sios__nsp_leave(nsp);
}

static int count_servers(struct req *q)
{
	int r;

	q->counting = 1;
	if ((r = sios__redis_numsub(q->a->ctx->r, q->a->reqchan, counted, q)))
		q->counting = 0;
	return r;
}

/* a request that waits for the other servers' answers: msg is published
 * once they are counted (none: it completes with this server's part) */
static int request_start(radapter *a, int type, const sios__sel *sel, unsigned tmo, void *cb,
			 void *ud, cJSON *msg)
{
	struct req *q;
	int r;

	if (!msg)
		return SIOS_ENOMEM;
	if (a->closing || !a->ctx->r) {
		cJSON_Delete(msg);
		return a->closing ? SIOS_ECLOSED : SIOS_EIO;
	}
	if (!(q = req_new(a, type, tmo))) {
		cJSON_Delete(msg);
		return SIOS_ENOMEM;
	}
	q->msg = msg;
	q->ud = ud;
	switch (type) {
	case T_REMOTE_FETCH:
		q->cb.fetch = (sios__fetch_done)cb;
		break;
	case T_ALL_ROOMS:
		q->cb.rooms = (sios__rooms_done)cb;
		break;
	case T_COUNT:
		q->cb.count = (sios__count_done)cb;
		break;
	default:
		q->cb.answers = (sios__answers_done)cb;
	}
	if (sel) {
		q->sel.nsp = sel->nsp;
		q->sel.flags = sel->flags;
		if (sios__strv_copy(&q->sel.rooms, &q->sel.nrooms, sel->rooms, sel->nrooms) ||
		    sios__strv_copy(&q->sel.except, &q->sel.nexcept, sel->except, sel->nexcept)) {
			q->done = 1;
			sios__ra_req_free(q);
			return SIOS_ENOMEM;
		}
	}
	if (!cJSON_AddStringToObject(msg, "requestId", q->id)) {
		q->done = 1;
		sios__ra_req_free(q);
		return SIOS_ENOMEM;
	}
	if ((r = count_servers(q))) {
		q->done = 1; /* refused: the callback will not run */
		sios__ra_req_free(q);
		return r;
	}
	return 0;
}

/* ---- rooms: this server's index only ------------------------------------ */

static int r_join(sios__adapter *a, struct sios_socket *s, const char *room)
{
	(void)a;
	return sios__local_join(s, room);
}

static int r_leave(sios__adapter *a, struct sios_socket *s, const char *room)
{
	(void)a;
	return sios__local_leave(s, room);
}

static void r_leave_all(sios__adapter *a, struct sios_socket *s)
{
	(void)a;
	sios__local_leave_all(s);
}

/* ---- broadcasts --------------------------------------------------------- */

static int r_broadcast(sios__adapter *ad, const sios__sel *sel, sios__bpacket *p)
{
	radapter *a = (radapter *)ad;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	int r;

	/* recovery: an event without an ack, not volatile, gets an offset
	 * (this server's uid and a counter) before its one encode, and is
	 * logged here and, through the opts, by every sios server */
	if (a->ctx->recovery_ms && p->ack_id < 0 && !(sel->flags & SIOS_SCOPE_VOLATILE)) {
		if ((r = sios__rlog_add(&a->log, sel, p, NULL)))
			return r;
	} else if (!sios__bpacket_frame(p)) {
		return p->encoded;
	}
	sios__local_broadcast(sel, p);
	if ((sel->flags & SIOS_SCOPE_LOCAL) || !a->ctx->r || a->closing)
		return 0;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 3);
	sios__rw_pack_cstr(&pk, a->uid);
	if (sios__rw_pack_packet(&pk, p) == 0) {
		sios__rw_pack_opts(&pk, sel, 0, p->offset);
		if (sel->nrooms == 1) {
			/* exactly one room: its own channel, which the servers
			 * without the room skip undecoded */
			char *chan = strcat3(a->bchan, sel->rooms[0], "#");

			if (chan)
				sios__ra_publish(a, chan, sb.data, sb.size);
			free(chan);
		} else {
			sios__ra_publish(a, a->bchan, sb.data, sb.size);
		}
	}
	msgpack_sbuffer_destroy(&sb);
	return 0;
}

static int r_broadcast_with_ack(sios__adapter *ad, const sios__sel *sel, sios__bpacket *p,
				struct sios__bcast_ack *b)
{
	radapter *a = (radapter *)ad;
	unsigned tmo = sel->timeout_ms ? sel->timeout_ms : ACK_WAIT_MAX_MS;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	struct req *q;
	int published = 0;

	if (!sios__bpacket_frame(p))
		return p->encoded;
	if ((sel->flags & SIOS_SCOPE_LOCAL) || !a->ctx->r || a->closing ||
	    !(q = req_new(a, T_BROADCAST, tmo))) {
		sios__bcast_ack_servers(b, 1);
		sios__local_broadcast_with_ack(sel, p, b);
		return 0;
	}
	q->b = b;
	sios__bcast_ack_ref(b);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 5);
	sios__rw_pack_cstr(&pk, "uid");
	sios__rw_pack_cstr(&pk, a->uid);
	sios__rw_pack_cstr(&pk, "requestId");
	sios__rw_pack_cstr(&pk, q->id);
	sios__rw_pack_cstr(&pk, "type");
	msgpack_pack_int(&pk, T_BROADCAST);
	sios__rw_pack_cstr(&pk, "packet");
	if (sios__rw_pack_packet(&pk, p) == 0) {
		sios__rw_pack_cstr(&pk, "opts");
		sios__rw_pack_opts(&pk, sel, tmo, NULL);
		/* as Node: publish, then count who will answer */
		published = sios__ra_publish(a, a->reqchan, sb.data, sb.size) == 0;
	}
	msgpack_sbuffer_destroy(&sb);
	sios__local_broadcast_with_ack(sel, p, b);
	if (!published) {
		/* it will reach no other server: this one alone answers */
		sios__bcast_ack_servers(b, 1);
		sios__ra_req_free(q);
	} else if (count_servers(q)) {
		counted(q, SIOS_EIO, 1);
	}
	return 0;
}

/* ---- requests ----------------------------------------------------------- */

static int r_fetch(sios__adapter *ad, const sios__sel *sel, unsigned timeout_ms,
		   sios__fetch_done cb, void *ud)
{
	radapter *a = (radapter *)ad;
	cJSON *m;

	if (sel->flags & SIOS_SCOPE_LOCAL) {
		cJSON *arr = sios__local_fetch(sel);

		if (!arr)
			return SIOS_ENOMEM;
		cb(0, arr, ud);
		cJSON_Delete(arr);
		return 0;
	}
	if (!(m = request_msg(a, T_REMOTE_FETCH)) || !add_opts(m, sel)) {
		cJSON_Delete(m);
		return SIOS_ENOMEM;
	}
	return request_start(a, T_REMOTE_FETCH, sel, timeout_ms, (void *)cb, ud, m);
}

static int r_all_rooms(sios__adapter *ad, unsigned timeout_ms, sios__rooms_done cb, void *ud)
{
	radapter *a = (radapter *)ad;

	return request_start(a, T_ALL_ROOMS, NULL, timeout_ms, (void *)cb, ud,
			     request_msg(a, T_ALL_ROOMS));
}

static int r_server_side_emit(sios__adapter *ad, const cJSON *data, unsigned timeout_ms,
			      sios__answers_done cb, void *ud)
{
	radapter *a = (radapter *)ad;
	cJSON *m = request_msg(a, T_SERVER_SIDE_EMIT);

	if (!m || !cJSON_AddItemToObject(m, "data", cJSON_Duplicate(data, 1))) {
		cJSON_Delete(m);
		return SIOS_ENOMEM;
	}
	if (cb)
		return request_start(a, T_SERVER_SIDE_EMIT, NULL, timeout_ms, (void *)cb, ud, m);
	if (!a->ctx->r || a->closing) {
		cJSON_Delete(m);
		return a->closing ? SIOS_ECLOSED : SIOS_EIO;
	}
	sios__ra_publish_json(a, a->reqchan, m);
	return 0;
}

static int r_server_count(sios__adapter *ad, sios__count_done cb, void *ud)
{
	radapter *a = (radapter *)ad;

	return request_start(a, T_COUNT, NULL, 0, (void *)cb, ud, cJSON_CreateObject());
}

/* Joins, leaves and disconnects apply here at once, and reach the others
 * through Redis; this server skips its own when they come back. */
static int remote_op(radapter *a, int type, const sios__sel *sel, const char *const *rooms,
		     size_t n, int close)
{
	cJSON *m, *arr;

	if ((sel->flags & SIOS_SCOPE_LOCAL) || !a->ctx->r || a->closing)
		return 0;
	if (!(m = request_msg(a, type)) || !add_opts(m, sel))
		goto nomem;
	if (type == T_REMOTE_DISCONNECT) {
		if (!cJSON_AddBoolToObject(m, "close", close))
			goto nomem;
	} else if (!(arr = strv_json((char *const *)rooms, n)) ||
		   !cJSON_AddItemToObject(m, "rooms", arr)) {
		goto nomem;
	}
	sios__ra_publish_json(a, a->reqchan, m);
	return 0;
nomem:
	cJSON_Delete(m);
	return SIOS_ENOMEM;
}

static int r_add(sios__adapter *ad, const sios__sel *sel, const char *const *rooms, size_t n)
{
	int r = sios__local_add_sockets(sel, rooms, n);

	return r ? r : remote_op((radapter *)ad, T_REMOTE_JOIN, sel, rooms, n, 0);
}

static int r_del(sios__adapter *ad, const sios__sel *sel, const char *const *rooms, size_t n)
{
	int r = sios__local_del_sockets(sel, rooms, n);

	return r ? r : remote_op((radapter *)ad, T_REMOTE_LEAVE, sel, rooms, n, 0);
}

static int r_disconnect(sios__adapter *ad, const sios__sel *sel, int close)
{
	/* the request first: the local part may free what sel points into */
	int r = remote_op((radapter *)ad, T_REMOTE_DISCONNECT, sel, NULL, 0, close);

	return r ? r : sios__local_disconnect_sockets(sel, close);
}

/* Connection state recovery across servers (Node needs its streams
 * adapter for it): a session is kept in Redis under
 * prefix-session#nsp#pid for the window, and read (and deleted: restored
 * once) by whichever server the client comes back to; the packets it
 * missed come from that server's log, which holds every sios server's
 * broadcasts under the offsets their origin gave them. */
static void fire(void *ud, int status, const struct redisReply *rep)
{
	(void)ud;
	(void)status;
	(void)rep;
}

static char *session_key(radapter *a, const char *pid)
{
	char *k1 = strcat3(a->ctx->prefix, "-session#", sios__nsp_name(a->base.nsp));
	char *k = k1 ? strcat3(k1, "#", pid) : NULL;

	free(k1);
	return k;
}

static int r_persist(sios__adapter *ad, const sios__session_state *st)
{
	radapter *a = (radapter *)ad;
	cJSON *o;
	char *key, *json = NULL, ttl[24];
	int r = 0;

	if (!a->ctx->recovery_ms || !a->ctx->r)
		return 0;
	o = cJSON_CreateObject();
	if (o && cJSON_AddStringToObject(o, "sid", st->sid) &&
	    cJSON_AddItemToObject(o, "rooms", strv_json(st->rooms, st->nrooms)))
		json = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	key = session_key(a, st->pid);
	snprintf(ttl, sizeof(ttl), "%u", a->ctx->recovery_ms);
	if (json && key) {
		const char *argv[] = {"SET", key, json, "PX", ttl};
		size_t lens[5];

		for (int i = 0; i < 5; i++)
			lens[i] = strlen(argv[i]);
		r = sios__redis_command_argv(a->ctx->r, fire, NULL, 5, argv, lens);
	} else {
		r = SIOS_ENOMEM;
	}
	free(json);
	free(key);
	return r;
}

static void restore_unlink(struct restore *x)
{
	radapter *a = x->a;

	if (!a)
		return;
	if (x->prev)
		x->prev->next = x->next;
	else
		a->restores = x->next;
	if (x->next)
		x->next->prev = x->prev;
	x->a = NULL;
}

static void session_read(void *ud, int status, const struct redisReply *rep)
{
	struct restore *x = ud;
	radapter *a = x->a;
	sios__session_state st;
	sios__frame **missed = NULL;
	size_t n = 0;
	cJSON *o = NULL;
	const cJSON *sid, *rooms, *it;
	int found = 0;

	if (!a) { /* the adapter closed: its callback has run */
		free(x);
		return;
	}
	restore_unlink(x);
	memset(&st, 0, sizeof(st));
	if (!status && rep && rep->type == REDIS_REPLY_STRING &&
	    (o = cJSON_ParseWithLength(rep->str, rep->len)) &&
	    cJSON_IsString(sid = cJSON_GetObjectItemCaseSensitive(o, "sid")) &&
	    strlen(sid->valuestring) == SIOS__ID_LEN &&
	    cJSON_IsArray(rooms = cJSON_GetObjectItemCaseSensitive(o, "rooms")) &&
	    (st.rooms = calloc((size_t)cJSON_GetArraySize(rooms) + 1, sizeof(*st.rooms)))) {
		memcpy(st.sid, sid->valuestring, sizeof(st.sid));
		memcpy(st.pid, x->pid, sizeof(st.pid));
		cJSON_ArrayForEach(it, rooms)
			if (cJSON_IsString(it))
				st.rooms[st.nrooms++] = it->valuestring;
		found = sios__rlog_missed(&a->log, st.rooms, st.nrooms, x->offset, &missed, &n) == 0;
	}
	sios__nsp_enter(a->base.nsp);
	/* unknown, expired, Redis away, or the offset left this server's
	 * log: a new socket */
	x->cb(0, found ? &st : NULL, missed, n, x->ud);
	sios__nsp_leave(a->base.nsp);
	free(missed);
	free(st.rooms);
	cJSON_Delete(o);
	free(x);
}

static int r_restore(sios__adapter *ad, const char *pid, const char *offset,
		     sios__restore_done cb, void *ud)
{
	radapter *a = (radapter *)ad;
	struct restore *x;
	char *key;
	int r;

	if (!a->ctx->recovery_ms || !a->ctx->r || a->closing || strlen(offset) >= 64 ||
	    !(x = calloc(1, sizeof(*x)))) {
		cb(0, NULL, NULL, 0, ud);
		return 0;
	}
	x->a = a;
	x->cb = cb;
	x->ud = ud;
	memcpy(x->offset, offset, strlen(offset) + 1);
	if (!(key = session_key(a, pid))) {
		free(x);
		cb(0, NULL, NULL, 0, ud);
		return 0;
	}
	{
		const char *argv[] = {"GETDEL", key};
		size_t lens[] = {6, strlen(key)};

		r = sios__redis_command_argv(a->ctx->r, session_read, x, 2, argv, lens);
	}
	free(key);
	if (r) {
		free(x);
		cb(0, NULL, NULL, 0, ud);
		return 0;
	}
	x->next = a->restores;
	if (a->restores)
		a->restores->prev = x;
	a->restores = x;
	snprintf(x->pid, sizeof(x->pid), "%s", pid);
	return 0;
}

/* ---- lifecycle ---------------------------------------------------------- */

static void subscriptions(radapter *a, int on)
{
	sios__redis *r = a->ctx->r;
	const char *chans[] = {a->reqchan, a->respchan, a->myrespchan};

	if (!r || !a->pattern || !chans[0] || !chans[1] || !chans[2])
		return;
	if (on) {
		sios__redis_subscribe(r, a->pattern, 1);
		for (int i = 0; i < 3; i++)
			sios__redis_subscribe(r, chans[i], 0);
	} else {
		sios__redis_unsubscribe(r, a->pattern, 1);
		for (int i = 0; i < 3; i++)
			sios__redis_unsubscribe(r, chans[i], 0);
	}
}

static void r_close(sios__adapter *ad)
{
	radapter *a = (radapter *)ad;
	struct req *q;
	size_t it;

	a->closing = 1; /* what the callbacks below ask for is refused */
	subscriptions(a, 0);
	/* every pending request completes, once; each leaves the table */
	while ((it = 0, q = sios__map_next(&a->reqs, &it))) {
		if (q->type == T_BROADCAST) {
			sios__nsp_enter(a->base.nsp);
			sios__bcast_ack_end(q->b, SIOS_ECLOSED);
			sios__ra_req_free(q);
			sios__nsp_leave(a->base.nsp);
		} else {
			sios__ra_req_complete(q, SIOS_ECLOSED);
		}
	}
	sios__ra_relays_detach(a);
	while (a->restores) {
		struct restore *x = a->restores;

		restore_unlink(x); /* freed when Redis answers */
		x->cb(SIOS_ECLOSED, NULL, NULL, 0, x->ud);
	}
	sios__rlog_free(&a->log);
	for (radapter **pp = &a->ctx->adapters; *pp; pp = &(*pp)->next)
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	sios__map_free(&a->reqs);
	free(a->bchan);
	free(a->pattern);
	free(a->reqchan);
	free(a->respchan);
	free(a->myrespchan);
	free(a);
}

static const struct sios__adapter_ops redis_ops = {
	.join = r_join,
	.leave = r_leave,
	.leave_all = r_leave_all,
	.broadcast = r_broadcast,
	.broadcast_with_ack = r_broadcast_with_ack,
	.fetch_sockets = r_fetch,
	.add_sockets = r_add,
	.del_sockets = r_del,
	.disconnect_sockets = r_disconnect,
	.server_side_emit = r_server_side_emit,
	.server_count = r_server_count,
	.all_rooms = r_all_rooms,
	.persist_session = r_persist,
	.restore_session = r_restore,
	.close = r_close,
};

static sios__adapter *redis_make(void *ud, struct sios_nsp *nsp)
{
	redis_ctx *ctx = ud;
	radapter *a;
	const char *name = sios__nsp_name(nsp);

	if (!(a = calloc(1, sizeof(*a))))
		return NULL;
	a->base.ops = &redis_ops;
	a->base.nsp = nsp;
	a->ctx = ctx;
	uid6(a->uid);
	sios__map_init(&a->reqs);
	{
		char *pre = strcat3(ctx->prefix, "#", name);
		char *rq = strcat3(ctx->prefix, "-request#", name);
		char *rs = strcat3(ctx->prefix, "-response#", name);

		a->bchan = pre ? strcat3(pre, "#", "") : NULL;
		a->pattern = pre ? strcat3(pre, "#*", "") : NULL;
		a->reqchan = rq ? strcat3(rq, "#", "") : NULL;
		a->respchan = rs ? strcat3(rs, "#", "") : NULL;
		a->myrespchan = rs ? strcat3(rs, "#", a->uid) : NULL;
		free(pre);
		free(rq);
		free(rs);
	}
	if (a->myrespchan) {
		char *full = strcat3(a->myrespchan, "#", "");

		free(a->myrespchan);
		a->myrespchan = full;
	}
	if (!a->bchan || !a->pattern || !a->reqchan || !a->respchan || !a->myrespchan) {
		free(a->bchan);
		free(a->pattern);
		free(a->reqchan);
		free(a->respchan);
		free(a->myrespchan);
		sios__map_free(&a->reqs);
		free(a);
		return NULL;
	}
	a->bchan_len = strlen(a->bchan);
	{
		char prefix[16];

		snprintf(prefix, sizeof(prefix), "%s:", a->uid);
		sios__rlog_init(&a->log, ctx->recovery_ms, prefix);
	}
	a->next = ctx->adapters;
	ctx->adapters = a;
	subscriptions(a, 1);
	return &a->base;
}

/* the loop is there: connect, and subscribe for the namespaces made so far */
static int ctx_start(void *ud, sios__loop *loop)
{
	redis_ctx *ctx = ud;
	sios__redis_opts o = {.url = ctx->url, .on_message = sios__ra_on_message, .ud = ctx};
	int r;

	ctx->loop = loop;
	if ((r = sios__redis_new(loop, &o, &ctx->r)))
		return r;
	for (radapter *a = ctx->adapters; a; a = a->next)
		subscriptions(a, 1);
	return 0;
}

static void add_stats(sios__redis_stats *to, const sios__redis_stats *s)
{
	to->published += s->published;
	to->dropped += s->dropped;
	to->reconnects += s->reconnects;
	to->deaf += s->deaf;
}

static void ctx_stop(void *ud)
{
	redis_ctx *ctx = ud;
	sios__redis *r = ctx->r;
	sios__redis_stats st;

	if (!r)
		return;
	ctx->r = NULL; /* from now on nothing goes out */
	sios__redis_free(r, &st); /* requests waiting for NUMSUB end with SIOS_ECLOSED */
	add_stats(&ctx->gone, &st);
}

static void ctx_stats(void *ud, uint64_t *drops, uint64_t *reconnects)
{
	redis_ctx *ctx = ud;
	sios__redis_stats st = ctx->gone;

	if (ctx->r) {
		sios__redis_stats now;

		sios__redis_get_stats(ctx->r, &now);
		add_stats(&st, &now);
	}
	*drops = st.dropped;
	*reconnects = st.reconnects + st.deaf;
}

static sios__redis *ctx_redis(void *ud) { return ((redis_ctx *)ud)->r; }

static void ctx_free(void *ud)
{
	redis_ctx *ctx = ud;

	ctx_stop(ctx);
	free(ctx->url);
	free(ctx->prefix);
	free(ctx);
}

int sios__adapter_redis(const char *url, const char *prefix, unsigned timeout_ms,
			unsigned recovery_ms, sios__adapter_kind *out)
{
	redis_ctx *ctx;
	sios__redis_url u;
	int r;

	if ((r = sios__redis_url_parse(url, &u)))
		return r;
	sios__redis_url_clear(&u);
	if (!(ctx = calloc(1, sizeof(*ctx))))
		return SIOS_ENOMEM;
	ctx->url = sios__strdup(url);
	ctx->prefix = sios__strdup(prefix ? prefix : "socket.io");
	ctx->timeout_ms = timeout_ms ? timeout_ms : DEFAULT_TIMEOUT_MS;
	ctx->recovery_ms = recovery_ms;
	if (!ctx->url || !ctx->prefix) {
		ctx_free(ctx);
		return SIOS_ENOMEM;
	}
	memset(out, 0, sizeof(*out));
	out->make = redis_make;
	out->ctx = ctx;
	out->ctx_free = ctx_free;
	out->ctx_start = ctx_start;
	out->ctx_stop = ctx_stop;
	out->ctx_stats = ctx_stats;
	out->ctx_redis = ctx_redis;
	return 0;
}
