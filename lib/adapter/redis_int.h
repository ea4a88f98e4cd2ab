/* The Redis adapter's internals, shared by redis.c (what this server
 * sends) and redis_in.c (what arrives). Private to lib/adapter. */
#ifndef SIOS_REDIS_INT_H
#define SIOS_REDIS_INT_H

#include "redis/redis.h"
#include "recovery.h"
#include "redis_wire.h"

enum {
	T_SOCKETS = 0,
	T_ALL_ROOMS = 1,
	T_REMOTE_JOIN = 2,
	T_REMOTE_LEAVE = 3,
	T_REMOTE_DISCONNECT = 4,
	T_REMOTE_FETCH = 5,
	T_SERVER_SIDE_EMIT = 6,
	T_BROADCAST = 7,
	T_BROADCAST_CLIENT_COUNT = 8,
	T_BROADCAST_ACK = 9,
	T_COUNT = 100, /* ours: PUBSUB NUMSUB alone */
};

typedef struct radapter radapter;

/* one per server: the connections and the namespaces' adapters */
typedef struct redis_ctx {
	char *url, *prefix;
	unsigned timeout_ms;
	unsigned recovery_ms; /* connection state recovery, 0: off */
	sios__redis *r; /* NULL once the loop is torn down */
	sios__loop *loop;
	radapter *adapters;
	sios__redis_stats gone; /* of connections already freed */
} redis_ctx;

/* A request this server made. It lives in the adapter's table until it
 * completes; one waiting for NUMSUB's answer outlives a closing adapter
 * (a == NULL) until that answer comes. */
struct req {
	radapter *a;
	char id[8];
	int type;
	size_t expected, got;
	sios__timer timer;
	cJSON *acc;  /* sockets, rooms or answers gathered */
	cJSON *msg;  /* the request, published once the servers are counted */
	union {
		sios__fetch_done fetch;
		sios__rooms_done rooms;
		sios__answers_done answers;
		sios__count_done count;
	} cb;
	void *ud;
	struct sios__bcast_ack *b; /* T_BROADCAST */
	sios__sel sel;             /* T_REMOTE_FETCH: the local part's */
	int counting;              /* NUMSUB asked, not answered */
	int done;                  /* the callback ran */
};

/* a session being read from Redis for a client coming back */
struct restore {
	radapter *a; /* NULL once the adapter closed (the callback has run) */
	sios__restore_done cb;
	void *ud;
	char offset[64];
	char pid[SIOS__ID_LEN + 1];
	struct restore *prev, *next;
};

/* another server's broadcast with acks, answered by local clients */
struct relay {
	radapter *a;
	char id[64];
	struct relay *prev, *next;
};

struct radapter {
	sios__adapter base;
	redis_ctx *ctx;
	char uid[8];
	char *bchan, *pattern, *reqchan, *respchan, *myrespchan;
	size_t bchan_len;
	sios__map reqs; /* requestId -> struct req */
	struct relay *relays;
	/* connection state recovery: the cluster's broadcasts of the window
	 * as this server saw them, and restores waiting for Redis */
	sios__rlog log;
	struct restore *restores;
	int closing; /* in r_close: new requests are refused */
	radapter *next;
};

/* redis.c: 0, or the message will not reach Redis (dropped, counted) */
int sios__ra_publish(radapter *a, const char *chan, const char *data, size_t len);
/* publishes msg as JSON and deletes it */
int sios__ra_publish_json(radapter *a, const char *chan, cJSON *msg);
/* the request completes: its callback runs (once) and it is freed */
void sios__ra_req_complete(struct req *q, int status);
void sios__ra_req_free(struct req *q);

/* redis_in.c: every message of the server's subscriber */
void sios__ra_on_message(void *ud, const char *chan, size_t clen, const char *data, size_t len);
/* the relays of a closing adapter stop answering */
void sios__ra_relays_detach(radapter *a);

#endif
