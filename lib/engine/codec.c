/* Engine.IO v4 packet and payload codec: pure functions, no I/O. */
#include <stdlib.h>
#include <string.h>

#include "engine.h"

int sios__eio_decode(const char *p, size_t n, int binary_frame, sios__eio_pkt *out)
{
	if (binary_frame) {
		out->type = SIOS__EIO_MESSAGE;
		out->binary = 1;
		out->data = p;
		out->len = n;
		return 0;
	}
	if (n < 1 || p[0] < '0' || p[0] > '6')
		return -1;
	out->type = p[0] - '0';
	out->binary = 0;
	out->data = p + 1;
	out->len = n - 1;
	return 0;
}

int sios__eio_payload_decode(const char *p, size_t n, sios__eio_payload_cb cb, void *ud)
{
	size_t i = 0;

	if (n == 0)
		return -1;
	while (i <= n) {
		const char *sep = memchr(p + i, 0x1e, n - i);
		size_t end = sep ? (size_t)(sep - p) : n, len = end - i;
		sios__eio_pkt pkt;
		int r;

		if (len == 0)
			return -1; /* empty packet or trailing separator */
		if (p[i] == 'b') {
			unsigned char *bin = malloc(len * 3 / 4 + 1);
			long bl;

			if (!bin)
				return -2;
			bl = sios__b64_decode(p + i + 1, len - 1, bin);
			if (bl < 0) {
				free(bin);
				return -1;
			}
			pkt.type = SIOS__EIO_MESSAGE;
			pkt.binary = 1;
			pkt.data = (const char *)bin;
			pkt.len = (size_t)bl;
			r = cb(&pkt, ud);
			free(bin);
		} else {
			if (sios__eio_decode(p + i, len, 0, &pkt))
				return -1;
			r = cb(&pkt, ud);
		}
		if (r)
			return r;
		if (!sep)
			break;
		i = end + 1;
	}
	return 0;
}

int sios__eio_payload_append(sios__str *out, const unsigned char *data, size_t len, int binary)
{
	if (out->len && sios__str_addc(out, 0x1e))
		return -1;
	if (!binary)
		return sios__str_add(out, data, len);
	if (sios__str_addc(out, 'b') || sios__str_reserve(out, sios__b64_enc_len(len)))
		return -1;
	sios__b64_encode(data, len, out->p + out->len);
	out->len += sios__b64_enc_len(len);
	out->p[out->len] = 0;
	return 0;
}
