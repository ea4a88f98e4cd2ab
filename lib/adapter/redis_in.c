/* What the Redis adapter receives: the other servers' broadcasts, their
 * requests (this server answers with its own part) and the answers to
 * this server's requests. Anything malformed is dropped with a (rate
 * limited) log line; nothing a peer sends can make this server fail. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "redis_int.h"

#define ACK_WAIT_MAX_MS 60000

/* a message as cJSON: JSON when it starts with '{', else msgpack (binary
 * data as placeholders naming bins, which borrow from u) */
static cJSON *decode(const char *data, size_t len, msgpack_unpacked *u, sios__rw_bins *bins)
{
	if (len && data[0] == '{')
		return cJSON_ParseWithLength(data, len);
	if (sios__rw_unpack(u, data, len))
		return NULL;
	return sios__rw_to_json(&u->data, bins);
}

static void dropped(radapter *a, const char *what)
{
	sios__log_limited(SIOS__LOG_WARN, "redis adapter %s: dropped %s",
			  sios__nsp_name(a->base.nsp), what);
}

/* ---- selections from opts ----------------------------------------------- */

/* rooms and except of a request's opts, borrowing its strings */
struct msel {
	sios__sel sel;
	char **heap;
};

static int strv_from(const cJSON *arr, char ***out, size_t *n)
{
	size_t k = 0, count = (size_t)cJSON_GetArraySize(arr);

	*out = NULL;
	*n = 0;
	if (!arr || cJSON_IsNull(arr))
		return 0;
	if (!cJSON_IsArray(arr))
		return SIOS_EINVAL;
	if (!count)
		return 0;
	if (!(*out = malloc(count * sizeof(**out))))
		return SIOS_ENOMEM;
	for (const cJSON *c = arr->child; c; c = c->next) {
		if (!cJSON_IsString(c)) {
			free(*out);
			*out = NULL;
			return SIOS_EINVAL;
		}
		(*out)[k++] = c->valuestring;
	}
	*n = k;
	return 0;
}

static int msel_from(struct msel *m, struct sios_nsp *nsp, const cJSON *opts)
{
	memset(m, 0, sizeof(*m));
	m->sel.nsp = nsp;
	if (!opts)
		return 0;
	if (strv_from(cJSON_GetObjectItemCaseSensitive(opts, "rooms"), &m->sel.rooms,
		      &m->sel.nrooms) ||
	    strv_from(cJSON_GetObjectItemCaseSensitive(opts, "except"), &m->sel.except,
		      &m->sel.nexcept)) {
		free(m->sel.rooms);
		m->sel.rooms = NULL;
		return SIOS_EINVAL;
	}
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
		    cJSON_GetObjectItemCaseSensitive(opts, "flags"), "volatile")))
		m->sel.flags |= SIOS_SCOPE_VOLATILE;
	return 0;
}

static void msel_free(struct msel *m)
{
	free(m->sel.rooms);
	free(m->sel.except);
}

/* the packet {type, data:[event, ...args], nsp} as a bpacket; *args is
 * the new arguments array it borrows */
static int bpacket_from(sios__bpacket *p, struct sios_nsp *nsp, const cJSON *packet,
			const sios__rw_bins *bins, cJSON **args)
{
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(packet, "data");
	const cJSON *ev = cJSON_GetArrayItem(data, 0);
	const cJSON *pn = cJSON_GetObjectItemCaseSensitive(packet, "nsp");

	*args = NULL;
	if (!cJSON_IsArray(data) || !cJSON_IsString(ev) || !*ev->valuestring)
		return SIOS_EINVAL;
	/* a packet without nsp is for "/", as Node reads it */
	if (strcmp(cJSON_IsString(pn) ? pn->valuestring : pn ? "" : "/", sios__nsp_name(nsp)))
		return SIOS_ENOENT; /* another namespace's */
	if (!sios__placeholders_valid(data, bins->n))
		return SIOS_EINVAL;
	if (!(*args = cJSON_Duplicate(data, 1)))
		return SIOS_ENOMEM;
	cJSON_DeleteItemFromArray(*args, 0);
	memset(p, 0, sizeof(*p));
	p->nsp = nsp;
	p->event = ev->valuestring;
	p->args = *args;
	p->bins = bins->v;
	p->nbins = bins->n;
	p->ack_id = -1;
	return 0;
}

static void bpacket_done(sios__bpacket *p, cJSON *args)
{
	if (p->encoded == 1)
		sios__frame_clear(&p->frame);
	cJSON_Delete(args);
}

/* ---- broadcasts --------------------------------------------------------- */

static void on_broadcast(radapter *a, const char *tail, size_t tlen, const char *data,
			 size_t len)
{
	struct sios_nsp *nsp = a->base.nsp;
	msgpack_unpacked u;
	sios__rw_bins bins = {0};
	const msgpack_object *v;
	cJSON *packet = NULL, *opts = NULL, *args = NULL;
	sios__bpacket p;
	struct msel m;
	int r;

	if (tlen && !a->ctx->recovery_ms) {
		/* a room's channel: skipped undecoded unless the room is here
		 * (with recovery every broadcast is logged, for clients that may
		 * come back here) */
		char *room;
		int here;

		if (tlen < 2 || tail[tlen - 1] != '#' || !(room = malloc(tlen)))
			return;
		memcpy(room, tail, tlen - 1);
		room[tlen - 1] = 0;
		here = sios__local_has_room(nsp, room);
		free(room);
		if (!here)
			return;
	}
	msgpack_unpacked_init(&u);
	if (sios__rw_unpack(&u, data, len) || u.data.type != MSGPACK_OBJECT_ARRAY ||
	    u.data.via.array.size != 3 || (v = u.data.via.array.ptr)[0].type != MSGPACK_OBJECT_STR ||
	    v[1].type != MSGPACK_OBJECT_MAP || v[2].type != MSGPACK_OBJECT_MAP) {
		dropped(a, "a broadcast that is not [uid, packet, opts]");
		goto out;
	}
	if (v[0].via.str.size == strlen(a->uid) && !memcmp(v[0].via.str.ptr, a->uid, strlen(a->uid)))
		goto out; /* our own */
	if (!(packet = sios__rw_to_json(&v[1], &bins)) || !(opts = sios__rw_to_json(&v[2], &bins))) {
		dropped(a, "a broadcast that cannot be carried");
		goto out;
	}
	if ((r = bpacket_from(&p, nsp, packet, &bins, &args))) {
		if (r != SIOS_ENOENT)
			dropped(a, "a broadcast with a malformed packet");
		goto out;
	}
	if (msel_from(&m, nsp, opts) == 0) {
		const cJSON *off = cJSON_GetObjectItemCaseSensitive(opts, "offset");

		sios__nsp_enter(nsp);
		/* logged under the origin's offset (a Node origin gives none:
		 * one of this server's, which another server will not know) */
		if (a->ctx->recovery_ms && !(m.sel.flags & SIOS_SCOPE_VOLATILE))
			sios__rlog_add(&a->log, &m.sel, &p,
				       cJSON_IsString(off) && strlen(off->valuestring) < 40
					       ? off->valuestring
					       : NULL);
		sios__local_broadcast(&m.sel, &p);
		sios__nsp_leave(nsp);
		msel_free(&m);
	} else {
		dropped(a, "a broadcast with malformed rooms");
	}
	bpacket_done(&p, args);
out:
	cJSON_Delete(packet);
	cJSON_Delete(opts);
	sios__rw_bins_free(&bins);
	msgpack_unpacked_destroy(&u);
}

/* ---- another server's broadcast with acks ------------------------------- */

static void relay_answer(void *ud, const cJSON *args, const sios_binary *bins, size_t nbins)
{
	struct relay *rl = ud;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	const cJSON *first = cJSON_GetArrayItem(args, 0);
	int bad = 0;

	if (!rl->a)
		return;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 3);
	sios__rw_pack_cstr(&pk, "type");
	msgpack_pack_int(&pk, T_BROADCAST_ACK);
	sios__rw_pack_cstr(&pk, "requestId");
	sios__rw_pack_cstr(&pk, rl->id);
	sios__rw_pack_cstr(&pk, "packet");
	/* only the first argument travels, as with Node */
	if (first)
		bad = sios__rw_pack_json(&pk, first, bins, nbins);
	else
		msgpack_pack_nil(&pk);
	if (!bad)
		sios__ra_publish(rl->a, rl->a->respchan, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

static void relay_unlink(struct relay *rl)
{
	radapter *a = rl->a;

	if (!a)
		return;
	if (rl->prev)
		rl->prev->next = rl->next;
	else
		a->relays = rl->next;
	if (rl->next)
		rl->next->prev = rl->prev;
	rl->a = NULL;
}

struct relay_box {
	struct relay rl;
	struct sios__bcast_ack *b;
};

static void relay_done(void *ud)
{
	struct relay_box *x = ud;

	relay_unlink(&x->rl);
	sios__bcast_ack_unref(x->b); /* the adapter's reference */
	free(x);
}

void sios__ra_relays_detach(radapter *a)
{
	while (a->relays)
		relay_unlink(a->relays);
}

/* every server answers a broadcast with acks with exactly one count (Node
 * waits for it): 0 when this server cannot deliver it */
static void send_count(radapter *a, const char *id, size_t n)
{
	cJSON *count = cJSON_CreateObject();

	if (count && cJSON_AddNumberToObject(count, "type", T_BROADCAST_CLIENT_COUNT) &&
	    cJSON_AddStringToObject(count, "requestId", id) &&
	    cJSON_AddNumberToObject(count, "clientCount", (double)n))
		sios__ra_publish_json(a, a->respchan, count);
	else
		cJSON_Delete(count);
}

static void on_broadcast_with_ack(radapter *a, const cJSON *m, const sios__rw_bins *bins)
{
	struct sios_nsp *nsp = a->base.nsp;
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(m, "requestId");
	const cJSON *opts = cJSON_GetObjectItemCaseSensitive(m, "opts");
	const cJSON *tmo = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(opts, "flags"), "timeout");
	struct relay_box *x;
	cJSON *args = NULL;
	sios__bpacket p;
	struct msel sel;
	size_t n;

	const cJSON *uid = cJSON_GetObjectItemCaseSensitive(m, "uid");
	int r;

	if (!cJSON_IsString(id))
		return;
	if (sios__map_get(&a->reqs, id->valuestring) ||
	    (cJSON_IsString(uid) && !strcmp(uid->valuestring, a->uid)))
		return; /* our own (published late, after Redis came back) */
	if (strlen(id->valuestring) >= sizeof(x->rl.id) ||
	    (r = bpacket_from(&p, nsp, cJSON_GetObjectItemCaseSensitive(m, "packet"), bins, &args))) {
		send_count(a, id->valuestring, 0);
		return;
	}
	if (msel_from(&sel, nsp, opts) || !(x = calloc(1, sizeof(*x)))) {
		msel_free(&sel);
		bpacket_done(&p, args);
		send_count(a, id->valuestring, 0);
		return;
	}
	strcpy(x->rl.id, id->valuestring);
	p.ack_id = sios__nsp_next_ack(nsp);
	sios__nsp_enter(nsp);
	x->b = sios__bcast_ack_relay(nsp,
				     cJSON_IsNumber(tmo) && tmo->valuedouble >= 1 &&
						     tmo->valuedouble < ACK_WAIT_MAX_MS
					     ? (unsigned)tmo->valuedouble
					     : ACK_WAIT_MAX_MS,
				     relay_answer, relay_done, x);
	if (!x->b) {
		free(x);
		sios__nsp_leave(nsp);
		msel_free(&sel);
		bpacket_done(&p, args);
		send_count(a, id->valuestring, 0);
		return;
	}
	x->rl.a = a;
	x->rl.next = a->relays;
	if (a->relays)
		a->relays->prev = &x->rl;
	a->relays = &x->rl;
	n = sios__local_broadcast_with_ack(&sel.sel, &p, x->b);
	send_count(a, x->rl.id, n);
	sios__bcast_ack_servers(x->b, 1); /* may end it (x is gone then) */
	sios__nsp_leave(nsp);
	msel_free(&sel);
	bpacket_done(&p, args);
}

/* ---- requests ----------------------------------------------------------- */

static void respond(radapter *a, const char *id, const char *key, cJSON *value)
{
	cJSON *r = cJSON_CreateObject();

	if (!value)
		value = cJSON_CreateArray(); /* out of memory: an answer all the same */
	if (!r || !value || !cJSON_AddStringToObject(r, "requestId", id) ||
	    !cJSON_AddItemToObject(r, key, value)) {
		cJSON_Delete(r);
		cJSON_Delete(value);
		return;
	}
	sios__ra_publish_json(a, a->respchan, r);
}

struct sse_reply {
	radapter *a;
	const char *id;
};

static void sse_answer(const cJSON *answer, void *ud)
{
	struct sse_reply *s = ud;
	cJSON *r = cJSON_CreateObject();

	if (r && cJSON_AddNumberToObject(r, "type", T_SERVER_SIDE_EMIT) &&
	    cJSON_AddStringToObject(r, "requestId", s->id) &&
	    cJSON_AddItemToObject(r, "data",
				  answer ? cJSON_Duplicate(answer, 1) : cJSON_CreateNull()))
		sios__ra_publish_json(s->a, s->a->respchan, r);
	else
		cJSON_Delete(r);
}

static cJSON *socket_ids(const sios__sel *sel);

static void on_request(radapter *a, const char *data, size_t len)
{
	struct sios_nsp *nsp = a->base.nsp;
	msgpack_unpacked u;
	sios__rw_bins bins = {0};
	cJSON *m;
	const cJSON *type, *uid, *id, *opts;
	int own, pending;
	struct msel sel;

	msgpack_unpacked_init(&u);
	if (!(m = decode(data, len, &u, &bins)) || !cJSON_IsObject(m) ||
	    !cJSON_IsNumber(type = cJSON_GetObjectItemCaseSensitive(m, "type"))) {
		dropped(a, "a request that cannot be read");
		goto out;
	}
	uid = cJSON_GetObjectItemCaseSensitive(m, "uid");
	id = cJSON_GetObjectItemCaseSensitive(m, "requestId");
	opts = cJSON_GetObjectItemCaseSensitive(m, "opts");
	own = cJSON_IsString(uid) && !strcmp(uid->valuestring, a->uid);
	pending = cJSON_IsString(id) && sios__map_get(&a->reqs, id->valuestring);
	if (id && !cJSON_IsString(id))
		goto out;
	if (msel_from(&sel, nsp, opts)) {
		dropped(a, "a request with malformed rooms");
		goto out;
	}
	sios__nsp_enter(nsp);
	switch (type->valueint) {
	case T_SOCKETS:
		if (!pending && id) {
			struct msel rs;
			cJSON *rooms = cJSON_GetObjectItemCaseSensitive(m, "rooms");

			memset(&rs, 0, sizeof(rs));
			rs.sel.nsp = nsp;
			if (!strv_from(rooms, &rs.sel.rooms, &rs.sel.nrooms))
				respond(a, id->valuestring, "sockets", socket_ids(&rs.sel));
			msel_free(&rs);
		}
		break;
	case T_ALL_ROOMS:
		if (!pending && id)
			respond(a, id->valuestring, "rooms", sios__local_rooms(nsp));
		break;
	case T_REMOTE_FETCH:
		if (!pending && id)
			respond(a, id->valuestring, "sockets", sios__local_fetch(&sel.sel));
		break;
	case T_REMOTE_JOIN:
	case T_REMOTE_LEAVE:
		if (own)
			break; /* applied when it was made */
		if (opts) {
			char **rooms;
			size_t n;

			if (strv_from(cJSON_GetObjectItemCaseSensitive(m, "rooms"), &rooms, &n) == 0) {
				if (type->valueint == T_REMOTE_JOIN)
					sios__local_add_sockets(&sel.sel, (const char *const *)rooms, n);
				else
					sios__local_del_sockets(&sel.sel, (const char *const *)rooms, n);
				free(rooms);
			}
		} else {
			/* the older form: one socket by id, answered by its server */
			const cJSON *sid = cJSON_GetObjectItemCaseSensitive(m, "sid");
			const cJSON *room = cJSON_GetObjectItemCaseSensitive(m, "room");

			if (cJSON_IsString(sid) && cJSON_IsString(room) &&
			    sios__local_has_room(nsp, sid->valuestring)) {
				char *one[1] = {sid->valuestring};
				const char *r1[1] = {room->valuestring};
				sios__sel s1 = {.nsp = nsp, .rooms = one, .nrooms = 1};

				if (type->valueint == T_REMOTE_JOIN)
					sios__local_add_sockets(&s1, r1, 1);
				else
					sios__local_del_sockets(&s1, r1, 1);
				if (id) {
					cJSON *r = cJSON_CreateObject();

					if (r && cJSON_AddStringToObject(r, "requestId", id->valuestring))
						sios__ra_publish_json(a, a->respchan, r);
					else
						cJSON_Delete(r);
				}
			}
		}
		break;
	case T_REMOTE_DISCONNECT:
		if (!own)
			sios__local_disconnect_sockets(
				&sel.sel, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(m, "close")));
		break;
	case T_SERVER_SIDE_EMIT:
		if (!own) {
			struct sse_reply s = {a, id ? id->valuestring : NULL};
			const cJSON *d = cJSON_GetObjectItemCaseSensitive(m, "data");

			if (cJSON_IsArray(d))
				sios__server_event_in(nsp, d, id ? sse_answer : NULL, &s);
		}
		break;
	case T_BROADCAST:
		on_broadcast_with_ack(a, m, &bins);
		break;
	default:
		break; /* a type this server does not know: ignored, as Node does */
	}
	sios__nsp_leave(nsp);
	msel_free(&sel);
out:
	cJSON_Delete(m);
	sios__rw_bins_free(&bins);
	msgpack_unpacked_destroy(&u);
}

static void add_id(struct sios_socket *s, void *ud)
{
	cJSON_AddItemToArray(ud, cJSON_CreateString(sios_socket_id(s)));
}

static cJSON *socket_ids(const sios__sel *sel)
{
	cJSON *ids = cJSON_CreateArray();

	if (ids)
		sios__local_select(sel, add_id, ids);
	return ids;
}

/* ---- answers to this server's requests ---------------------------------- */

/* rooms from several servers, each once */
static void rooms_union(cJSON *acc)
{
	sios__map seen;
	cJSON *c = acc ? acc->child : NULL;

	sios__map_init(&seen);
	while (c) {
		cJSON *next = c->next;

		if (!cJSON_IsString(c) || sios__map_get(&seen, c->valuestring) ||
		    sios__map_put(&seen, c->valuestring, c))
			cJSON_Delete(cJSON_DetachItemViaPointer(acc, c));
		c = next;
	}
	sios__map_free(&seen);
}

static void on_response(radapter *a, const char *data, size_t len)
{
	msgpack_unpacked u;
	sios__rw_bins bins = {0};
	cJSON *m, *item, *c;
	const cJSON *id;
	struct req *q;

	msgpack_unpacked_init(&u);
	if (!(m = decode(data, len, &u, &bins)) || !cJSON_IsObject(m) ||
	    !cJSON_IsString(id = cJSON_GetObjectItemCaseSensitive(m, "requestId")) ||
	    !(q = sios__map_get(&a->reqs, id->valuestring)) ||
	    (q->counting && q->type != T_BROADCAST))
		goto out; /* unknown or late: ignored (a broadcast with acks is
			   * published before its servers are counted: its
			   * answers may come first, and the tracker takes them) */
	if (q->type == T_BROADCAST) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(m, "type");
		struct sios_nsp *nsp = a->base.nsp;

		sios__nsp_enter(nsp);
		if (cJSON_IsNumber(t) && t->valueint == T_BROADCAST_CLIENT_COUNT) {
			const cJSON *n = cJSON_GetObjectItemCaseSensitive(m, "clientCount");

			/* a count no server could have is a peer's error: none */
			sios__bcast_ack_count(q->b, cJSON_IsNumber(n) && n->valuedouble >= 0 &&
							    n->valuedouble <= 1e9
						    ? (size_t)n->valuedouble
						    : 0);
		} else if (cJSON_IsNumber(t) && t->valueint == T_BROADCAST_ACK) {
			cJSON *args = cJSON_CreateArray();
			cJSON *packet = cJSON_DetachItemFromObjectCaseSensitive(m, "packet");

			if (args && cJSON_AddItemToArray(args, packet ? packet : cJSON_CreateNull()))
				sios__bcast_ack_answer(q->b, args, bins.v, bins.n);
			cJSON_Delete(args);
		}
		if (sios__bcast_ack_done(q->b))
			sios__ra_req_free(q);
		sios__nsp_leave(nsp);
		goto out;
	}
	switch (q->type) {
	case T_REMOTE_FETCH:
	case T_SOCKETS:
		item = cJSON_DetachItemFromObjectCaseSensitive(m, "sockets");
		break;
	case T_ALL_ROOMS:
		item = cJSON_DetachItemFromObjectCaseSensitive(m, "rooms");
		break;
	default:
		item = cJSON_DetachItemFromObjectCaseSensitive(m, "data");
		if (!item)
			item = cJSON_CreateNull();
		if (!cJSON_AddItemToArray(q->acc, item))
			cJSON_Delete(item);
		item = NULL;
		q->got++;
	}
	if (q->type != T_SERVER_SIDE_EMIT) {
		/* a server answered, even with something unusable (Node counts it) */
		while (cJSON_IsArray(item) && (c = cJSON_DetachItemFromArray(item, 0)))
			if (!cJSON_AddItemToArray(q->acc, c))
				cJSON_Delete(c);
		cJSON_Delete(item);
		q->got++;
	}
	if (q->got >= q->expected) {
		if (q->type == T_ALL_ROOMS)
			rooms_union(q->acc);
		sios__ra_req_complete(q, 0);
	}
out:
	cJSON_Delete(m);
	sios__rw_bins_free(&bins);
	msgpack_unpacked_destroy(&u);
}

/* ---- routing ------------------------------------------------------------ */

void sios__ra_on_message(void *ud, const char *chan, size_t clen, const char *data, size_t len)
{
	redis_ctx *ctx = ud;

	for (radapter *a = ctx->adapters; a; a = a->next) {
		if (clen >= a->bchan_len && !memcmp(chan, a->bchan, a->bchan_len)) {
			on_broadcast(a, chan + a->bchan_len, clen - a->bchan_len, data, len);
			return;
		}
		if (!strcmp(chan, a->reqchan)) {
			on_request(a, data, len);
			return;
		}
		if (!strcmp(chan, a->respchan) || !strcmp(chan, a->myrespchan)) {
			on_response(a, data, len);
			return;
		}
	}
}
