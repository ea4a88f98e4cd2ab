/* Events as handlers see them: the accessors of sios_event, the check of
 * an event the application emits, and binary placeholders. */
#include <stdlib.h>

#include "core_int.h"

/* an event the application may emit: named, not reserved, its binaries given */
int sios__emit_ok(const char *event, const sios_binary *bins, size_t nbins)
{
	return event && *event && !sios__reserved_event(event) && (!nbins || bins);
}

SIOS_EXPORT cJSON *sios_binary_placeholder(int num)
{
	cJSON *o;

	if (num < 0)
		return NULL;
	o = cJSON_CreateObject();
	if (o && (!cJSON_AddTrueToObject(o, "_placeholder") ||
		  !cJSON_AddNumberToObject(o, "num", num))) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

SIOS_EXPORT const char *sios_event_name(const sios_event *ev) { return ev ? ev->name : NULL; }

SIOS_EXPORT const cJSON *sios_event_args(const sios_event *ev) { return ev ? ev->args : NULL; }

SIOS_EXPORT size_t sios_event_count(const sios_event *ev)
{
	return ev ? (size_t)cJSON_GetArraySize(ev->args) : 0;
}

SIOS_EXPORT const cJSON *sios_event_arg(const sios_event *ev, size_t i)
{
	return ev && i < (size_t)cJSON_GetArraySize(ev->args) ? cJSON_GetArrayItem(ev->args, (int)i)
							       : NULL;
}

SIOS_EXPORT const sios_binary *sios_event_binary(const sios_event *ev, const cJSON *node)
{
	int num;

	if (!ev || !sios__is_placeholder(node, ev->nbins, &num))
		return NULL;
	return &ev->bins[num];
}

SIOS_EXPORT const sios_binary *sios_event_binaries(const sios_event *ev)
{
	return ev && ev->nbins ? ev->bins : NULL;
}

SIOS_EXPORT size_t sios_event_binary_count(const sios_event *ev) { return ev ? ev->nbins : 0; }

SIOS_EXPORT const char *sios_event_socket_id(const sios_event *ev)
{
	if (!ev)
		return NULL;
	if (ev->sock)
		return ev->sock->id;
	return ev->sid[0] ? ev->sid : NULL;
}

SIOS_EXPORT int sios_event_reject(const sios_event *cev, const char *message)
{
	struct sios_event *ev = (struct sios_event *)cev;

	if (ev) {
		free(ev->reject_msg);
		ev->reject_msg = sios__strdup(message ? message : "rejected");
	}
	return SIOS_REJECT;
}
