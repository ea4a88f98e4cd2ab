/* redis: one server's two Redis connections on its libuv loop, through
 * hiredis's libuv adapter: one subscribed (SUBSCRIBE/PSUBSCRIBE, every
 * message to one callback), one for commands (PUBLISH, PUBSUB NUMSUB).
 *
 * It is never silently deaf: a connection that fails or drops is made
 * again with a backoff (100 ms doubling to 1 s) and the subscriptions are
 * made again; a health check publishes to a private channel every
 * health_ms and reconnects the subscriber when it stops hearing itself.
 * Nothing is lost quietly: publishes made while the command connection is
 * down wait in a bounded buffer and go out in order once it is back (1.25 s
 * later, so that the other servers' subscribers, which retry at least every
 * second, are back to hear them; what comes meanwhile queues behind);
 * beyond the bound, or when a connection dies with publishes in flight,
 * they are counted as dropped and logged. Commands that need an answer
 * fail at once with SIOS_EIO while it is down.
 *
 * Knows nothing about Socket.IO: the adapter and the stores above give it
 * channel names and bytes. Everything runs on the loop thread.
 */
#ifndef SIOS_REDIS_H
#define SIOS_REDIS_H

#include "loop/loop.h"

typedef struct sios__redis sios__redis;

/* where Redis is: redis://[[user]:password@]host[:port][/db] (host may be
 * [v6]), or unix:///path/to.sock[?db=N] */
typedef struct sios__redis_url {
	char *host; /* NULL for a unix socket */
	int port;
	char *path; /* the unix socket, or NULL */
	char *user, *password;
	int db;
} sios__redis_url;
/* SIOS_EINVAL for anything else; free with sios__redis_url_clear() */
int sios__redis_url_parse(const char *url, sios__redis_url *out);
void sios__redis_url_clear(sios__redis_url *u);

/* a message on a subscribed channel (or one matching a pattern) */
typedef void (*sios__redis_msg_fn)(void *ud, const char *channel, size_t clen, const char *data,
				   size_t len);
/* an integer answer, or status SIOS_EIO (Redis down, an error reply) or
 * SIOS_ECLOSED (the connection was freed first) */
typedef void (*sios__redis_int_fn)(void *ud, int status, long long n);

typedef struct sios__redis_opts {
	const char *url;
	unsigned health_ms;     /* 0: 2000 */
	size_t max_buffered;    /* bytes of publishes kept while down; 0: 8 MiB */
	sios__redis_msg_fn on_message;
	void *ud;
} sios__redis_opts;

/* Starts connecting (it does not wait: a Redis that is not there yet is
 * connected to when it comes). SIOS_EINVAL for a bad URL. */
int sios__redis_new(sios__loop *l, const sios__redis_opts *o, sios__redis **out);
/* Closes both connections (pending callbacks get SIOS_ECLOSED) and frees r;
 * its last statistics go to *last when not NULL (the publishes it still
 * held count as dropped). */
struct sios__redis_stats;
void sios__redis_free(sios__redis *r, struct sios__redis_stats *last);

/* Subscriptions, kept across reconnects. A channel subscribed twice is
 * one subscription with two holders. */
int sios__redis_subscribe(sios__redis *r, const char *channel, int pattern);
void sios__redis_unsubscribe(sios__redis *r, const char *channel, int pattern);

/* PUBLISH; 0, or SIOS_EDROPPED when Redis is down and the buffer is full
 * (the drop is counted). */
int sios__redis_publish(sios__redis *r, const char *channel, size_t clen, const void *data,
			size_t len);
/* PUBSUB NUMSUB channel: how many connections are subscribed to it. */
int sios__redis_numsub(sios__redis *r, const char *channel, sios__redis_int_fn cb, void *ud);

/* both connections up and the subscriptions made */
int sios__redis_ready(const sios__redis *r);

/* Any command on the command connection, with its reply: reply is NULL
 * with status SIOS_EIO (Redis down, the connection lost) or SIOS_ECLOSED
 * (freed first); an error reply comes with status 0. cb runs once. The
 * call fails at once (SIOS_EIO, cb not called) while Redis is down. */
struct redisReply;
typedef void (*sios__redis_reply_fn)(void *ud, int status, const struct redisReply *reply);
int sios__redis_command_argv(sios__redis *r, sios__redis_reply_fn cb, void *ud, int argc,
			     const char **argv, const size_t *lens);
/* The messages of one channel go to fn rather than the on_message of the
 * options (a store's own channel); subscribed across reconnects. */
int sios__redis_subscribe_fn(sios__redis *r, const char *channel, sios__redis_msg_fn fn,
			     void *ud);
void sios__redis_unsubscribe_fn(sios__redis *r, const char *channel);
/* fn runs each time the command connection is made, the first time and
 * after every loss (Redis may have restarted empty: what lives in it is
 * written again). */
int sios__redis_on_reconnect(sios__redis *r, void (*fn)(void *ud), void *ud);
void sios__redis_off_reconnect(sios__redis *r, void *ud);

typedef struct sios__redis_stats {
	uint64_t published;
	uint64_t dropped;    /* publishes that never reached Redis */
	uint64_t reconnects; /* connections made again after a loss */
	uint64_t deaf;       /* subscriber reconnects forced by the health check */
} sios__redis_stats;
void sios__redis_get_stats(const sios__redis *r, sios__redis_stats *out);

#endif
