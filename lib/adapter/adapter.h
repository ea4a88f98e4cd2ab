/* adapter: implementations of the adapter interface declared in
 * core/core.h. The in-memory adapter serves a single server; the Redis
 * adapter (built WITH_REDIS=1) will add the other nodes. */
#ifndef SIOS_ADAPTER_H
#define SIOS_ADAPTER_H

#include "core/core.h"

sios__adapter *sios__memory_adapter_new(struct sios_nsp *nsp);

#endif
