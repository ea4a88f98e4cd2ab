/* presence: the tracker's inside, shared by presence.c (the tracker, the
 * API, the in-memory store) and store_redis.c (the Redis store). */
#ifndef SIOS_PRESENCE_INT_H
#define SIOS_PRESENCE_INT_H

#include "core/core_int.h"

struct sios__redis;

/* whether a user is online (anywhere in the cluster): done runs once,
 * now or later, with 0 or an error */
typedef void (*sios__online_fn)(void *ud, int status, int online);

struct puser {
	sios_presence *p;
	char *id;
	size_t nsockets;    /* this server's */
	int online;         /* memory store: the user's state */
	char *status;       /* memory store: the application's, or NULL */
	uint64_t last_seen; /* memory store: wall clock ms; 0 never */
	uint64_t gone_at;   /* when its last socket here went */
	char **friends;
	size_t nfriends;
	int has_friends;
	int grace_on;
	sios__timer grace;
	char last_sid[SIOS__ID_LEN + 1]; /* Redis: the socket a grace period is for */
};

/* a counted socket, and a user named for a socket before it connects:
 * each owns the key the tables file it under */
struct psock {
	char sid[SIOS__ID_LEN + 1];
	struct puser *u;
	struct sios_socket *held; /* its CONNECT waits for the store */
	int counted;              /* Redis has counted it */
};

/* a socket's departure Redis has not heard of yet (it was away) */
struct pgone {
	char user[256];
	char sid[SIOS__ID_LEN + 1];
	uint64_t when;
	int grace;
	struct pgone *next;
};

struct ppre {
	char sid[SIOS__ID_LEN + 1];
	char *user;
};

struct sios_presence_friends {
	sios_presence *p;
	char *user;
	char *status; /* the change the friends are to be told */
	uint64_t last_seen;
	struct sios_presence_friends *prev, *next;
};

/* a request to Redis in flight: it outlives a tracker freed meanwhile
 * (p is then NULL) */
struct pop {
	sios_presence *p;
	int kind;
	char user[256];
	char sid[SIOS__ID_LEN + 1];
	uint64_t when;
	sios_presence_query_cb qcb;
	sios__online_fn ofn;
	void *qud;
	char **users; /* a query's */
	size_t nusers;
	struct pop *prev, *next;
};

struct sios_presence {
	struct sios_nsp *nsp;
	sios_server *srv;
	char *auth_key;
	unsigned grace_ms;
	unsigned ttl_s; /* Redis: a server's heartbeat lives this long */
	sios__map users;  /* id -> struct puser */
	sios__map socks;  /* socket id -> struct psock */
	sios__map preset; /* socket id -> struct ppre */
	sios_presence_change_cb on_change;
	void *change_ud;
	sios_presence_friends_cb on_friends;
	void *friends_ud;
	struct sios_presence_friends *reqs;
	/* the Redis store (when the server is in a cluster) */
	int redis;
	char uid[24];
	char *chan; /* changes, for the other servers' callbacks */
	struct pop *ops;
	sios__timer beat;
	/* the offline queue, above presence: told of each user's socket as it
	 * connects */
	void (*user_connected)(void *ud, struct sios_socket *s, const char *user);
	void (*uc_free)(void *ud); /* it goes with the tracker */
	void *uc_ud;
	struct pgone *gone_head, *gone_tail; /* replayed when Redis is back */
	size_t ngone;
	int registered; /* the heartbeat has been written once */
};

/* presence.c */
struct puser *sios__presence_user(sios_presence *p, const char *id, int create);
/* a change: the application's callback, the friends' rooms (when
 * friends), and (Redis) the other servers' callbacks */
void sios__presence_announce(sios_presence *p, const char *user, const char *status,
			     uint64_t last_seen, int friends);
/* the store has counted a held socket: its CONNECT goes out */
void sios__presence_release(sios_presence *p, struct psock *ps);
/* Redis says the user has no socket left: the grace period starts (unless
 * it has one here again) */
void sios__presence_grace(sios_presence *p, struct puser *u);
void sios__presence_tell(sios_presence *p, const char *user, const char *status,
			 uint64_t last_seen, char *const *friends, size_t n);

int sios__presence_online(sios_presence *p, const char *user, sios__online_fn done, void *ud);

/* store_redis.c (built with Redis; the stubs say no otherwise) */
struct sios__redis *sios__pr_conn(sios_presence *p);
int sios__pr_start(sios_presence *p);
void sios__pr_stop(sios_presence *p);
/* the TTL changed: a heartbeat now, then every third of it */
void sios__pr_rearm(sios_presence *p);
/* the socket is counted in Redis; 1: its CONNECT is held until then */
int sios__pr_add(sios_presence *p, struct psock *ps);
void sios__pr_remove(sios_presence *p, const char *user, const char *sid, uint64_t when);
void sios__pr_offline_if_empty(sios_presence *p, const char *user, uint64_t when);
int sios__pr_set_status(sios_presence *p, const char *user, const char *status);
void sios__pr_set_friends(sios_presence *p, const char *user, char *const *friends, size_t n);
int sios__pr_query(sios_presence *p, const char *const *users, size_t n,
		   sios_presence_query_cb cb, void *ud);
void sios__pr_publish(sios_presence *p, const char *user, const char *status,
		      uint64_t last_seen);
int sios__pr_online(sios_presence *p, const char *user, sios__online_fn done, void *ud);

#endif
