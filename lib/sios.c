/* The library's composition root, above every layer: what a server is made
 * of. Core is given the kind of adapter its namespaces use (the in-memory
 * one here; the Redis one when a cluster is configured), so no layer below
 * names an adapter implementation. */
#include "core/core.h"

SIOS_EXPORT int sios_server_new(const sios_config *cfg, sios_server **out)
{
	return sios__server_new(cfg, sios__adapter_memory(0), out);
}
