/* Requests to the cluster through the namespace's adapter: server-side
 * events (out, with or without answers, and in), the number of servers,
 * every room. On a single server (the in-memory adapter) they complete at
 * once. */
#include <stdlib.h>
#include <string.h>

#include "core_int.h"

#define REQUEST_TIMEOUT_MS 5000

/* [event, ...args], the form every adapter carries */
static cJSON *event_data(const char *event, const cJSON *args)
{
	cJSON *data = args ? cJSON_Duplicate(args, 1) : cJSON_CreateArray();
	cJSON *name = cJSON_CreateString(event);

	if (!data || !name || !cJSON_InsertItemInArray(data, 0, name)) {
		cJSON_Delete(data);
		cJSON_Delete(name);
		return NULL;
	}
	return data;
}

static int server_emit(sios_nsp *nsp, const char *event, const cJSON *args,
		       unsigned timeout_ms, sios__answers_done cb, void *ud)
{
	cJSON *data;
	int r;

	if (!(data = event_data(event, args)))
		return SIOS_ENOMEM;
	sios__core_enter(nsp->srv);
	r = nsp->adapter->ops->server_side_emit(nsp->adapter, data, timeout_ms, cb, ud);
	sios__core_leave(nsp->srv);
	cJSON_Delete(data);
	return r;
}

static int emit_args_ok(const sios_nsp *nsp, const char *event, const cJSON *args)
{
	return nsp && !nsp->is_pattern && sios__emit_ok(event, NULL, 0) &&
	       (!args || cJSON_IsArray(args));
}

SIOS_EXPORT int sios_server_side_emit(sios_nsp *nsp, const char *event, const cJSON *args)
{
	if (nsp && SIOS__OFF_LOOP(&nsp->srv->loop))
		return SIOS_EMISUSE;
	if (!emit_args_ok(nsp, event, args))
		return SIOS_EINVAL;
	return server_emit(nsp, event, args, 0, NULL, NULL);
}

/* a public callback behind an internal one: freed when it has run */
struct request {
	union {
		sios_server_ack_cb ack;
		sios_server_count_cb count;
		sios_rooms_cb rooms;
	} cb;
	void *ud;
};

static struct request *request_new(void *ud)
{
	struct request *q = malloc(sizeof(*q));

	if (q)
		q->ud = ud;
	return q;
}

static void answers_done(int status, const cJSON *answers, void *ud)
{
	struct request q = *(struct request *)ud;

	free(ud);
	q.cb.ack(status, answers, q.ud);
}

SIOS_EXPORT int sios_server_side_emit_with_ack(sios_nsp *nsp, const char *event,
					       const cJSON *args, unsigned timeout_ms,
					       sios_server_ack_cb cb, void *ud)
{
	struct request *q;
	int r;

	if (nsp && SIOS__OFF_LOOP(&nsp->srv->loop))
		return SIOS_EMISUSE;
	if (!emit_args_ok(nsp, event, args) || !cb)
		return SIOS_EINVAL;
	if (!(q = request_new(ud)))
		return SIOS_ENOMEM;
	q->cb.ack = cb;
	r = server_emit(nsp, event, args, timeout_ms ? timeout_ms : REQUEST_TIMEOUT_MS,
			answers_done, q);
	if (r)
		free(q); /* refused: the callback will not run */
	return r;
}

static void count_done(int status, size_t servers, void *ud)
{
	struct request q = *(struct request *)ud;

	free(ud);
	q.cb.count(status, servers, q.ud);
}

SIOS_EXPORT int sios_nsp_server_count(sios_nsp *nsp, sios_server_count_cb cb, void *ud)
{
	struct request *q;
	int r;

	if (nsp && SIOS__OFF_LOOP(&nsp->srv->loop))
		return SIOS_EMISUSE;
	if (!nsp || nsp->is_pattern || !cb)
		return SIOS_EINVAL;
	if (!(q = request_new(ud)))
		return SIOS_ENOMEM;
	q->cb.count = cb;
	sios__core_enter(nsp->srv);
	r = nsp->adapter->ops->server_count(nsp->adapter, count_done, q);
	if (r)
		free(q);
	sios__core_leave(nsp->srv);
	return r;
}

static void rooms_done(int status, const cJSON *rooms, void *ud)
{
	struct request q = *(struct request *)ud;

	free(ud);
	q.cb.rooms(status, rooms, q.ud);
}

SIOS_EXPORT int sios_nsp_all_rooms(sios_nsp *nsp, unsigned timeout_ms, sios_rooms_cb cb,
				   void *ud)
{
	struct request *q;
	int r;

	if (nsp && SIOS__OFF_LOOP(&nsp->srv->loop))
		return SIOS_EMISUSE;
	if (!nsp || nsp->is_pattern || !cb)
		return SIOS_EINVAL;
	if (!(q = request_new(ud)))
		return SIOS_ENOMEM;
	q->cb.rooms = cb;
	sios__core_enter(nsp->srv);
	r = nsp->adapter->ops->all_rooms(nsp->adapter,
					 timeout_ms ? timeout_ms : REQUEST_TIMEOUT_MS, rooms_done, q);
	if (r)
		free(q);
	sios__core_leave(nsp->srv);
	return r;
}

/* ---- events from other servers ---------------------------------------- */

struct sios_server_reply {
	sios__reply_fn fn;
	void *ud;
	int sent;
};

SIOS_EXPORT void sios_nsp_server_event_callback_set(sios_nsp *nsp, sios_server_event_cb cb,
						    void *ud)
{
	if (nsp) {
		nsp->on_server_event = cb;
		nsp->server_event_ud = ud;
	}
}

SIOS_EXPORT int sios_server_reply_send(sios_server_reply *reply, const cJSON *answer)
{
	if (!reply)
		return SIOS_EINVAL;
	if (reply->sent)
		return SIOS_EMISUSE;
	reply->sent = 1;
	reply->fn(answer, reply->ud);
	return 0;
}

void sios__server_event_in(struct sios_nsp *nsp, const cJSON *data, sios__reply_fn fn, void *ud)
{
	struct sios_nsp *cfg = sios__cfg_nsp(nsp);
	struct sios_server_reply reply = {fn, ud, 0};
	const cJSON *name = cJSON_GetArrayItem(data, 0);
	cJSON *args = NULL;

	if (cJSON_IsArray(data) && cJSON_IsString(name) && cfg->on_server_event &&
	    (args = cJSON_Duplicate(data, 1))) {
		cJSON_DeleteItemFromArray(args, 0);
		sios__core_enter(nsp->srv);
		cfg->on_server_event(nsp, name->valuestring, args, fn ? &reply : NULL,
				     cfg->server_event_ud);
		sios__core_leave(nsp->srv);
		cJSON_Delete(args);
	}
	if (fn && !reply.sent)
		fn(NULL, ud); /* no handler, or it gave no answer: null */
}
