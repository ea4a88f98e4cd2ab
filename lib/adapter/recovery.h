/* The broadcasts of a recovery window, each with its offset: what a
 * client that comes back may have missed (connection state recovery).
 * Shared by the in-memory and the Redis adapters. Private to lib/adapter. */
#ifndef SIOS_RECOVERY_H
#define SIOS_RECOVERY_H

#include "adapter.h"

struct sios__rlent;

typedef struct sios__rlog {
	unsigned window_ms;
	uint64_t next;   /* this server's offsets: prefix + a hex counter */
	char prefix[16];
	struct sios__rlent *head, *tail;
	size_t n;
} sios__rlog;

void sios__rlog_init(sios__rlog *l, unsigned window_ms, const char *prefix);
void sios__rlog_free(sios__rlog *l);
/* Logs p for sel under offset (NULL: a new one of this server's), which p
 * carries from then on: call it before p's frame is first used. */
int sios__rlog_add(sios__rlog *l, const sios__sel *sel, sios__bpacket *p, const char *offset);
/* The frames after offset that a session in rooms would have got, in
 * order (*out borrowed until the log changes, free the array itself);
 * SIOS_ENOENT when offset is not (or no longer) in the log. */
int sios__rlog_missed(sios__rlog *l, char *const *rooms, size_t nrooms, const char *offset,
		      sios__frame ***out, size_t *n);

#endif
