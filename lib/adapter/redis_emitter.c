/* sios_emitter: publish events into a cluster from a program that is not a
 * server, as Node's @socket.io/redis-emitter does: the same messages on the
 * same channels, so sios and Node servers deliver them alike. One blocking
 * Redis connection per emitter (hiredis, no loop). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "redis/redis.h"
#include "redis_wire.h"

#define CONNECT_TIMEOUT_S 2

struct sios_emitter {
	sios__redis_url url;
	char *prefix;
	redisContext *c;
	char **rooms, **except;
	size_t nrooms, nexcept;
};

/* a reply that is not an error, or NULL */
static int command_ok(redisContext *c, const char *fmt, const char *a, const char *b)
{
	redisReply *r = b ? redisCommand(c, fmt, a, b) : redisCommand(c, fmt, a);
	int ok = r && r->type != REDIS_REPLY_ERROR;

	if (r)
		freeReplyObject(r);
	return ok;
}

static int em_connect(sios_emitter *em)
{
	struct timeval tv = {CONNECT_TIMEOUT_S, 0};
	redisContext *c = em->url.path ? redisConnectUnixWithTimeout(em->url.path, tv)
				       : redisConnectWithTimeout(em->url.host, em->url.port, tv);
	char db[16];

	if (!c || c->err) {
		if (c)
			redisFree(c);
		return SIOS_EIO;
	}
	redisSetTimeout(c, tv);
	if ((em->url.password &&
	     !(em->url.user ? command_ok(c, "AUTH %s %s", em->url.user, em->url.password)
			    : command_ok(c, "AUTH %s", em->url.password, NULL))) ||
	    (em->url.db && (snprintf(db, sizeof(db), "%d", em->url.db), 1) &&
	     !command_ok(c, "SELECT %s", db, NULL))) {
		redisFree(c);
		return SIOS_EIO;
	}
	em->c = c;
	return 0;
}

SIOS_EXPORT int sios_emitter_new(const char *url, sios_emitter **out)
{
	sios_emitter *em;
	int r;

	if (!out)
		return SIOS_EINVAL;
	*out = NULL;
	if (!url)
		return SIOS_EINVAL;
	if (!(em = calloc(1, sizeof(*em))))
		return SIOS_ENOMEM;
	if ((r = sios__redis_url_parse(url, &em->url))) {
		free(em);
		return r;
	}
	if (!(em->prefix = sios__strdup("socket.io"))) {
		sios_emitter_free(em);
		return SIOS_ENOMEM;
	}
	if ((r = em_connect(em))) {
		sios_emitter_free(em);
		return r;
	}
	*out = em;
	return 0;
}

SIOS_EXPORT void sios_emitter_free(sios_emitter *em)
{
	if (!em)
		return;
	if (em->c)
		redisFree(em->c);
	sios__strv_free(&em->rooms, &em->nrooms);
	sios__strv_free(&em->except, &em->nexcept);
	sios__redis_url_clear(&em->url);
	free(em->prefix);
	free(em);
}

SIOS_EXPORT int sios_emitter_set_prefix(sios_emitter *em, const char *prefix)
{
	char *p;

	if (!em || !prefix || !*prefix)
		return SIOS_EINVAL;
	if (!(p = sios__strdup(prefix)))
		return SIOS_ENOMEM;
	free(em->prefix);
	em->prefix = p;
	return 0;
}

SIOS_EXPORT int sios_emitter_to(sios_emitter *em, const char *room)
{
	if (!em || !room || !*room)
		return SIOS_EINVAL;
	return sios__strv_add(&em->rooms, &em->nrooms, room, 0);
}

SIOS_EXPORT int sios_emitter_except(sios_emitter *em, const char *room)
{
	if (!em || !room || !*room)
		return SIOS_EINVAL;
	return sios__strv_add(&em->except, &em->nexcept, room, 0);
}

static int publish(sios_emitter *em, const char *chan, const char *data, size_t len)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		redisReply *r;

		if (!em->c && em_connect(em))
			return SIOS_EIO;
		r = redisCommand(em->c, "PUBLISH %s %b", chan, data, len);
		if (r) {
			int ok = r->type == REDIS_REPLY_INTEGER;

			freeReplyObject(r);
			return ok ? 0 : SIOS_EIO;
		}
		/* once more on a new connection only when the old one was found
		 * closed (the message cannot have gone): after a timeout it may
		 * have, and sending it again could deliver it twice */
		{
			int closed = em->c->err == REDIS_ERR_EOF ||
				     (em->c->err == REDIS_ERR_IO && (errno == EPIPE || errno == ECONNRESET));

			redisFree(em->c);
			em->c = NULL;
			if (!closed)
				return SIOS_EIO;
		}
	}
	return SIOS_EIO;
}

SIOS_EXPORT int sios_emitter_emit(sios_emitter *em, const char *nsp, const char *event,
				  const cJSON *args, const sios_binary *bins, size_t nbins)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;
	sios__sel sel;
	char *name = NULL, *chan = NULL;
	size_t n;
	int r = SIOS_ENOMEM;

	if (!em)
		return SIOS_EINVAL;
	if (!event || !*event || (args && !cJSON_IsArray(args)) || (nbins && !bins) ||
	    nbins > SIOS__RW_MAX_BINS) {
		r = SIOS_EINVAL;
		goto out; /* the rooms were for this emit all the same */
	}
	/* "admin" is "/admin", as emitter.of() reads it */
	nsp = nsp && *nsp ? nsp : "/";
	n = strlen(nsp) + 1;
	if (!(name = malloc(n + 1)))
		goto out;
	if (nsp[0] == '/')
		memcpy(name, nsp, n);
	else {
		name[0] = '/';
		memcpy(name + 1, nsp, n);
	}
	memset(&sel, 0, sizeof(sel));
	sel.rooms = em->rooms;
	sel.nrooms = em->nrooms;
	sel.except = em->except;
	sel.nexcept = em->nexcept;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 3);
	sios__rw_pack_cstr(&pk, "emitter");
	if (sios__rw_pack_event(&pk, name, event, args, bins, nbins)) {
		r = SIOS_EINVAL;
	} else {
		size_t plen = strlen(em->prefix), nlen = strlen(name);
		size_t rlen = em->nrooms == 1 ? strlen(em->rooms[0]) + 1 : 0;

		sios__rw_pack_opts(&pk, &sel, 0, NULL);
		/* prefix#nsp# or, for exactly one room, prefix#nsp#room# */
		if ((chan = malloc(plen + nlen + rlen + 3))) {
			char *p = chan;

			memcpy(p, em->prefix, plen);
			p += plen;
			*p++ = '#';
			memcpy(p, name, nlen);
			p += nlen;
			*p++ = '#';
			if (rlen) {
				memcpy(p, em->rooms[0], rlen - 1);
				p += rlen - 1;
				*p++ = '#';
			}
			*p = 0;
			r = publish(em, chan, sb.data, sb.size);
		}
	}
	msgpack_sbuffer_destroy(&sb);
out:
	free(name);
	free(chan);
	/* the rooms were for this emit */
	sios__strv_free(&em->rooms, &em->nrooms);
	sios__strv_free(&em->except, &em->nexcept);
	return r;
}
