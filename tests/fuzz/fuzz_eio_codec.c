/* The Engine.IO codec: a polling payload (packets split on 0x1e, binary as
 * b+base64) and single websocket messages. Decoding never reads outside
 * the input, and what decodes encodes back to a payload that decodes to
 * the same packets. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"

struct seen {
	sios__str again;
	int n;
};

static int collect(const sios__eio_pkt *pkt, void *ud)
{
	struct seen *s = ud;
	sios__str one;

	/* the websocket form: type character + data, or the raw bytes */
	sios__str_init(&one);
	if (!pkt->binary)
		sios__str_addc(&one, (char)('0' + pkt->type));
	sios__str_add(&one, pkt->data, pkt->len);
	sios__eio_payload_append(&s->again, (const unsigned char *)one.p, one.len, pkt->binary);
	sios__str_free(&one);
	s->n++;
	return 0;
}

static int count(const sios__eio_pkt *pkt, void *ud)
{
	(void)pkt;
	(*(int *)ud)++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen s;
	sios__eio_pkt pkt;
	int n = 0;

	if (size)
		sios__eio_decode((const char *)data + 1, size - 1, data[0] & 1, &pkt);
	sios__str_init(&s.again);
	s.n = 0;
	if (sios__eio_payload_decode((const char *)data, size, collect, &s) == 0 && s.n &&
	    !s.again.oom) {
		if (sios__eio_payload_decode(s.again.p, s.again.len, count, &n) != 0 || n != s.n)
			abort(); /* a payload of ours that does not decode again */
	}
	sios__str_free(&s.again);
	return 0;
}
