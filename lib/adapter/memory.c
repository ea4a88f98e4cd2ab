/* The in-memory adapter: a cluster of one. Every operation runs on this
 * server's local index and completes before it returns. With recovery on
 * it also keeps what connection state recovery needs, as Node's
 * SessionAwareAdapter does: the sessions of disconnected sockets, and a log
 * of the broadcasts of the last recovery_ms, each with its offset. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recovery.h"

/* a disconnected socket's session, kept until restored or expired */
struct session {
	sios__session_state st;
	struct session *prev, *next; /* by departure */
};

typedef struct mem_adapter {
	sios__adapter base;
	unsigned recovery_ms; /* 0: no recovery */
	sios__rlog log;
	sios__map sessions; /* pid -> struct session */
	struct session *oldest, *newest;
} mem_adapter;

/* ---- rooms, broadcasts ------------------------------------------------ */

static int m_join(sios__adapter *a, struct sios_socket *s, const char *room)
{
	(void)a;
	return sios__local_join(s, room);
}

static int m_leave(sios__adapter *a, struct sios_socket *s, const char *room)
{
	(void)a;
	return sios__local_leave(s, room);
}

static void m_leave_all(sios__adapter *a, struct sios_socket *s)
{
	(void)a;
	sios__local_leave_all(s);
}

static int m_broadcast(sios__adapter *a, const sios__sel *sel, sios__bpacket *p)
{
	mem_adapter *m = (mem_adapter *)a;
	int r;

	if (m->recovery_ms && p->ack_id < 0 && !(sel->flags & SIOS_SCOPE_VOLATILE)) {
		if ((r = sios__rlog_add(&m->log, sel, p, NULL)))
			return r;
	} else if (!sios__bpacket_frame(p)) {
		return p->encoded; /* the caller's error, whoever would receive it */
	}
	sios__local_broadcast(sel, p);
	return 0;
}

static int m_broadcast_with_ack(sios__adapter *a, const sios__sel *sel, sios__bpacket *p,
				struct sios__bcast_ack *b)
{
	(void)a;
	if (!sios__bpacket_frame(p))
		return p->encoded;
	sios__bcast_ack_servers(b, 1); /* this one */
	sios__local_broadcast_with_ack(sel, p, b);
	return 0;
}

/* ---- requests: this server is the whole cluster ----------------------- */

static int m_fetch(sios__adapter *a, const sios__sel *sel, unsigned timeout_ms,
		   sios__fetch_done cb, void *ud)
{
	cJSON *arr = sios__local_fetch(sel);

	(void)a;
	(void)timeout_ms;
	if (!arr)
		return SIOS_ENOMEM;
	cb(0, arr, ud);
	cJSON_Delete(arr);
	return 0;
}

static int m_add(sios__adapter *a, const sios__sel *sel, const char *const *rooms, size_t n)
{
	(void)a;
	return sios__local_add_sockets(sel, rooms, n);
}

static int m_del(sios__adapter *a, const sios__sel *sel, const char *const *rooms, size_t n)
{
	(void)a;
	return sios__local_del_sockets(sel, rooms, n);
}

static int m_disconnect(sios__adapter *a, const sios__sel *sel, int close)
{
	(void)a;
	return sios__local_disconnect_sockets(sel, close);
}

static int m_server_side_emit(sios__adapter *a, const cJSON *data, unsigned timeout_ms,
			      sios__answers_done cb, void *ud)
{
	cJSON *none;

	(void)a;
	(void)data;
	(void)timeout_ms;
	if (!cb)
		return 0; /* no other server to tell */
	if (!(none = cJSON_CreateArray()))
		return SIOS_ENOMEM;
	cb(0, none, ud); /* every other server (none) has answered */
	cJSON_Delete(none);
	return 0;
}

static int m_server_count(sios__adapter *a, sios__count_done cb, void *ud)
{
	(void)a;
	cb(0, 1, ud);
	return 0;
}

static int m_all_rooms(sios__adapter *a, unsigned timeout_ms, sios__rooms_done cb, void *ud)
{
	cJSON *rooms = sios__local_rooms(a->nsp);

	(void)timeout_ms;
	if (!rooms)
		return SIOS_ENOMEM;
	cb(0, rooms, ud);
	cJSON_Delete(rooms);
	return 0;
}

/* ---- connection state recovery ---------------------------------------- */

static void session_unlink(mem_adapter *m, struct session *x)
{
	sios__map_del(&m->sessions, x->st.pid);
	if (x->prev)
		x->prev->next = x->next;
	else
		m->oldest = x->next;
	if (x->next)
		x->next->prev = x->prev;
	else
		m->newest = x->prev;
}

static void session_free(struct session *x)
{
	sios__strv_free(&x->st.rooms, &x->st.nrooms);
	free(x);
}

static void sessions_expire(mem_adapter *m, uint64_t now)
{
	while (m->oldest && m->oldest->st.gone_at + m->recovery_ms < now) {
		struct session *x = m->oldest;

		session_unlink(m, x);
		session_free(x);
	}
}

static int m_persist(sios__adapter *a, const sios__session_state *st)
{
	mem_adapter *m = (mem_adapter *)a;
	struct session *x, *old;

	if (!m->recovery_ms)
		return 0; /* recovery is off: nothing is kept */
	sessions_expire(m, sios__wall_ms());
	if (!(x = calloc(1, sizeof(*x))))
		return SIOS_ENOMEM;
	x->st = *st;
	if (sios__strv_copy(&x->st.rooms, &x->st.nrooms, st->rooms, st->nrooms)) {
		free(x);
		return SIOS_ENOMEM;
	}
	if ((old = sios__map_get(&m->sessions, x->st.pid))) {
		session_unlink(m, old);
		session_free(old);
	}
	if (sios__map_put(&m->sessions, x->st.pid, x)) {
		session_free(x);
		return SIOS_ENOMEM;
	}
	x->prev = m->newest;
	if (m->newest)
		m->newest->next = x;
	else
		m->oldest = x;
	m->newest = x;
	return 0;
}

static int m_restore(sios__adapter *a, const char *pid, const char *offset,
		     sios__restore_done cb, void *ud)
{
	mem_adapter *m = (mem_adapter *)a;
	struct session *x;
	sios__frame **missed = NULL;
	size_t n = 0;
	int r;

	if (m->recovery_ms)
		sessions_expire(m, sios__wall_ms());
	x = m->recovery_ms && pid ? sios__map_get(&m->sessions, pid) : NULL;
	r = x ? sios__rlog_missed(&m->log, x->st.rooms, x->st.nrooms, offset, &missed, &n)
	      : SIOS_ENOENT;
	if (r == SIOS_ENOMEM)
		return r;
	if (r) {
		/* unknown, expired, or the offset left the log: a new socket */
		cb(0, NULL, NULL, 0, ud);
		return 0;
	}
	/* a session is restored once: its pid does not open a second socket */
	session_unlink(m, x);
	cb(0, &x->st, missed, n, ud);
	session_free(x);
	free(missed);
	return 0;
}

/* ---- lifecycle -------------------------------------------------------- */

static void m_close(sios__adapter *a)
{
	mem_adapter *m = (mem_adapter *)a;

	/* nothing is ever pending: every request completed in its call */
	sios__rlog_free(&m->log);
	while (m->oldest) {
		struct session *x = m->oldest;

		session_unlink(m, x);
		session_free(x);
	}
	sios__map_free(&m->sessions);
	free(m);
}

static const struct sios__adapter_ops memory_ops = {
	.join = m_join,
	.leave = m_leave,
	.leave_all = m_leave_all,
	.broadcast = m_broadcast,
	.broadcast_with_ack = m_broadcast_with_ack,
	.fetch_sockets = m_fetch,
	.add_sockets = m_add,
	.del_sockets = m_del,
	.disconnect_sockets = m_disconnect,
	.server_side_emit = m_server_side_emit,
	.server_count = m_server_count,
	.all_rooms = m_all_rooms,
	.persist_session = m_persist,
	.restore_session = m_restore,
	.close = m_close,
};

static sios__adapter *memory_make(void *ctx, struct sios_nsp *nsp)
{
	mem_adapter *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->base.ops = &memory_ops;
	m->base.nsp = nsp;
	m->recovery_ms = (unsigned)(uintptr_t)ctx;
	sios__rlog_init(&m->log, m->recovery_ms, NULL);
	sios__map_init(&m->sessions);
	return &m->base;
}

sios__adapter_kind sios__adapter_memory(unsigned recovery_ms)
{
	sios__adapter_kind k = {.make = memory_make, .ctx = (void *)(uintptr_t)recovery_ms};

	return k;
}
