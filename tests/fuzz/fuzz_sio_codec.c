/* The Socket.IO codec with attachment reassembly. The input is a series of
 * messages: a byte of kind (bit 0: binary), two bytes of length, the data.
 * Every whole packet is encoded again (events and acks) and the result must
 * decode, with no more than 1000 attachments. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/protocol.h"

static void reencode(const sios__packet *p, const sios_binary *bins, size_t nbins)
{
	sios__frame f;
	sios__packet q;
	const cJSON *args = p->data;
	cJSON *rest = NULL;
	const char *event = NULL;
	int is_ack = p->type == SIOS__P_ACK || p->type == SIOS__P_BINARY_ACK;

	if (!is_ack && p->type != SIOS__P_EVENT && p->type != SIOS__P_BINARY_EVENT)
		return;
	if (!is_ack) {
		rest = cJSON_Duplicate(p->data, 1);
		if (!rest)
			return;
		event = p->data->child->valuestring;
		cJSON_DeleteItemFromArray(rest, 0);
		args = rest;
	}
	if (sios__encode_message(&f, is_ack, p->nsp, p->id, event, args, bins, nbins) == 0) {
		if (f.natts > SIOS__MAX_ATTACHMENTS)
			abort();
		/* skip the Engine.IO type character */
		if (sios__packet_decode((const char *)f.head->data + 1, f.head->len - 1, &q) != 0 ||
		    q.attachments != f.natts)
			abort(); /* we wrote something we cannot read */
		sios__packet_clear(&q);
		sios__frame_clear(&f);
	}
	cJSON_Delete(rest);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sios__assembler a;
	size_t i = 0;

	memset(&a, 0, sizeof(a));
	while (i + 3 <= size) {
		int binary = data[i] & 1;
		size_t len = (size_t)data[i + 1] << 8 | data[i + 2];
		sios__packet p;
		int r;

		i += 3;
		if (len > size - i)
			len = size - i;
		if (binary) {
			r = sios__asm_binary(&a, data + i, len, 1u << 20);
			if (r == SIOS__ASM_PACKET)
				reencode(&a.pending, a.bins, a.nbins);
			if (r != SIOS__ASM_WAIT)
				sios__asm_clear(&a);
		} else {
			r = sios__asm_text(&a, (const char *)data + i, len, &p);
			if (r == SIOS__ASM_PACKET) {
				reencode(&p, NULL, 0);
				sios__packet_clear(&p);
			} else if (r < 0) {
				sios__asm_clear(&a);
			}
		}
		i += len;
	}
	sios__asm_clear(&a);
	return 0;
}
