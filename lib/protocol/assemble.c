/* Binary attachment reassembly: a packet that announces attachments waits
 * for that many binary messages before it is whole. Bounded: at most
 * max_bytes held for one connection (what it has announced but not yet
 * finished is otherwise memory a client can pin). */
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

void sios__asm_clear(sios__assembler *a)
{
	if (a->bytes >= 65536)
		sios__trim_note(a->bytes);
	for (size_t i = 0; i < a->nbins; i++)
		free((void *)a->bins[i].data);
	free(a->bins);
	if (a->waiting)
		sios__packet_clear(&a->pending);
	memset(a, 0, sizeof(*a));
}

int sios__asm_text(sios__assembler *a, const char *s, size_t n, sios__packet *out)
{
	if (a->waiting)
		return SIOS__ASM_ERR_ORDER;
	if (sios__packet_decode(s, n, out))
		return SIOS__ASM_ERR_MALFORMED;
	if (out->attachments) {
		a->pending = *out;
		a->waiting = 1;
		a->bins = calloc(out->attachments, sizeof(*a->bins));
		memset(out, 0, sizeof(*out));
		if (!a->bins) {
			sios__asm_clear(a);
			return SIOS__ASM_ERR_NOMEM;
		}
		return SIOS__ASM_WAIT;
	}
	if ((out->type == SIOS__P_BINARY_EVENT || out->type == SIOS__P_BINARY_ACK) &&
	    !sios__placeholders_valid(out->data, 0)) {
		sios__packet_clear(out);
		return SIOS__ASM_ERR_PLACEHOLDER;
	}
	return SIOS__ASM_PACKET;
}

int sios__asm_binary(sios__assembler *a, const void *data, size_t len, size_t max_bytes)
{
	void *copy;

	if (!a->waiting)
		return SIOS__ASM_ERR_ORDER;
	if (len > max_bytes - a->bytes || a->bytes > max_bytes)
		return SIOS__ASM_ERR_TOOBIG;
	copy = malloc(len ? len : 1);
	if (!copy)
		return SIOS__ASM_ERR_NOMEM;
	if (len)
		memcpy(copy, data, len);
	a->bins[a->nbins].data = copy;
	a->bins[a->nbins].len = len;
	a->nbins++;
	a->bytes += len;
	if (a->nbins < a->pending.attachments)
		return SIOS__ASM_WAIT;
	if (!sios__placeholders_valid(a->pending.data, a->nbins))
		return SIOS__ASM_ERR_PLACEHOLDER;
	return SIOS__ASM_PACKET;
}

const char *sios__asm_strerror(int r)
{
	switch (r) {
	case SIOS__ASM_ERR_MALFORMED: return "malformed Socket.IO packet";
	case SIOS__ASM_ERR_ORDER: return "binary message out of place";
	case SIOS__ASM_ERR_PLACEHOLDER: return "bad binary placeholder";
	case SIOS__ASM_ERR_TOOBIG: return "binary attachments over the limit";
	case SIOS__ASM_ERR_NOMEM: return "out of memory";
	}
	return "protocol error";
}
