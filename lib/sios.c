/* The library's composition root, above every layer: what a server is made
 * of. Core is given the kind of adapter its namespaces use (the in-memory
 * one, or the Redis one when a cluster is configured), so no layer below
 * names an adapter implementation. */
#include "core/core.h"

SIOS_EXPORT int sios_server_new(const sios_config *cfg, sios_server **out)
{
	sios__adapter_kind kind;

	if (cfg && cfg->redis_url) {
		int r = sios__adapter_redis(cfg->redis_url, cfg->redis_prefix, cfg->redis_timeout,
					    cfg->recovery_ms, &kind);

		if (r) {
			if (out)
				*out = NULL;
			return r;
		}
	} else {
		kind = sios__adapter_memory(cfg ? cfg->recovery_ms : 0);
	}
	return sios__server_new(cfg, kind, out);
}

#if !SIOS_WITH_REDIS
int sios__adapter_redis(const char *url, const char *prefix, unsigned timeout_ms,
			unsigned recovery_ms, sios__adapter_kind *out)
{
	(void)url;
	(void)prefix;
	(void)timeout_ms;
	(void)recovery_ms;
	(void)out;
	return SIOS_ENOTSUP;
}

/* the emitter is part of the Redis adapter: without it, only refusals */
SIOS_EXPORT int sios_emitter_new(const char *url, sios_emitter **out)
{
	(void)url;
	if (out)
		*out = NULL;
	return SIOS_ENOTSUP;
}

SIOS_EXPORT void sios_emitter_free(sios_emitter *em) { (void)em; }

SIOS_EXPORT int sios_emitter_set_prefix(sios_emitter *em, const char *prefix)
{
	(void)em;
	(void)prefix;
	return SIOS_ENOTSUP;
}

SIOS_EXPORT int sios_emitter_to(sios_emitter *em, const char *room)
{
	(void)em;
	(void)room;
	return SIOS_ENOTSUP;
}

SIOS_EXPORT int sios_emitter_except(sios_emitter *em, const char *room)
{
	(void)em;
	(void)room;
	return SIOS_ENOTSUP;
}

SIOS_EXPORT int sios_emitter_emit(sios_emitter *em, const char *nsp, const char *event,
				  const cJSON *args, const sios_binary *bins, size_t nbins)
{
	(void)em;
	(void)nsp;
	(void)event;
	(void)args;
	(void)bins;
	(void)nbins;
	return SIOS_ENOTSUP;
}
#endif
