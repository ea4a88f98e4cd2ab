/* Engine.IO packet and payload codec, base64, ids, map and timer wheel. */
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "tap.h"

struct got {
	int n;
	int type[8], bin[8];
	char data[8][64];
	size_t len[8];
};

static int collect(const sios__eio_pkt *p, void *ud)
{
	struct got *g = ud;

	if (g->n >= 8)
		return 1;
	g->type[g->n] = p->type;
	g->bin[g->n] = p->binary;
	g->len[g->n] = p->len;
	memcpy(g->data[g->n], p->data, p->len < 63 ? p->len : 63);
	g->n++;
	return 0;
}

static void test_packets(void)
{
	sios__eio_pkt p;

	for (int t = 0; t <= 6; t++) {
		char s[8] = {(char)('0' + t), 'x', 'y', 0};

		CHECK(sios__eio_decode(s, 3, 0, &p) == 0 && p.type == t && p.len == 2 &&
			      !memcmp(p.data, "xy", 2) && !p.binary,
		      "text packet type %d decodes", t);
	}
	CHECK(sios__eio_decode("2probe", 6, 0, &p) == 0 && p.type == 2 && p.len == 5,
	      "2probe is a ping with data");
	CHECK(sios__eio_decode("7", 1, 0, &p) == -1, "type 7 is malformed");
	CHECK(sios__eio_decode("x", 1, 0, &p) == -1, "a letter type is malformed");
	CHECK(sios__eio_decode("", 0, 0, &p) == -1, "an empty text frame is malformed");
	CHECK(sios__eio_decode("\x01\x02", 2, 1, &p) == 0 && p.type == 4 && p.binary && p.len == 2,
	      "a binary frame is a binary message");
}

static void test_payloads(void)
{
	struct got g;
	sios__str s;
	const unsigned char bin[] = {0, 1, 2, 0xfe, 0xff};

	memset(&g, 0, sizeof(g));
	CHECK(sios__eio_payload_decode("4hello\x1e"
				       "2\x1e"
				       "bAAEC/v8=",
				       18, collect, &g) == 0 &&
		      g.n == 3,
	      "a payload of three packets decodes");
	CHECK(g.type[0] == 4 && g.len[0] == 5 && !memcmp(g.data[0], "hello", 5), "first is message");
	CHECK(g.type[1] == 2 && g.len[1] == 0, "second is ping");
	CHECK(g.bin[2] && g.len[2] == 5 && !memcmp(g.data[2], bin, 5), "third is binary, base64-decoded");
	memset(&g, 0, sizeof(g));
	CHECK(sios__eio_payload_decode("", 0, collect, &g) == -1, "empty payload is malformed");
	CHECK(sios__eio_payload_decode("4a\x1e", 3, collect, &g) == -1, "trailing separator is malformed");
	CHECK(sios__eio_payload_decode("4a\x1e\x1e"
				       "4b",
				       6, collect, &g) == -1,
	      "an empty packet in the middle is malformed");
	CHECK(sios__eio_payload_decode("b@@@", 4, collect, &g) == -1, "bad base64 is malformed");
	CHECK(sios__eio_payload_decode("9x", 2, collect, &g) == -1, "unknown type is malformed");

	sios__str_init(&s);
	sios__eio_payload_append(&s, (const unsigned char *)"4abc", 4, 0);
	sios__eio_payload_append(&s, bin, 5, 1);
	sios__eio_payload_append(&s, (const unsigned char *)"2", 1, 0);
	CHECK(s.len == 4 + 1 + 9 + 1 + 1 && !memcmp(s.p, "4abc\x1e"
							     "bAAEC/v8=\x1e"
							     "2",
						     s.len),
	      "payload encoding joins with 0x1e, binary as b+base64, no trailing separator");
	memset(&g, 0, sizeof(g));
	CHECK(sios__eio_payload_decode(s.p, s.len, collect, &g) == 0 && g.n == 3 && g.bin[1],
	      "encode then decode round-trips");
	sios__str_free(&s);
}

static void test_base64(void)
{
	const char *vec[][2] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
				{"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
	int all = 1;

	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		char enc[16] = {0};
		unsigned char dec[16];
		size_t n = strlen(vec[i][0]);
		long dl;

		sios__b64_encode((const unsigned char *)vec[i][0], n, enc);
		dl = sios__b64_decode(vec[i][1], strlen(vec[i][1]), dec);
		if (strcmp(enc, vec[i][1]) || dl != (long)n || memcmp(dec, vec[i][0], n))
			all = 0;
	}
	CHECK(all, "base64 matches the RFC 4648 vectors both ways");
	{
		unsigned char d[8];

		CHECK(sios__b64_decode("Zg=a", 4, d) == -1, "data after padding is refused");
		CHECK(sios__b64_decode("Z", 1, d) == -1, "a single character is refused");
	}
}

static void test_ids(void)
{
	char a[21], b[21];
	int ok = 1;

	sios__id(a);
	sios__id(b);
	for (int i = 0; i < 20; i++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", a[i]))
			ok = 0;
	CHECK(strlen(a) == 20 && ok, "ids are 20 URL-safe characters");
	CHECK(strcmp(a, b) != 0, "two ids differ");
}

static void test_map(void)
{
	sios__map m;
	char keys[2000][16];
	int ok = 1;

	sios__map_init(&m);
	for (int i = 0; i < 2000; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		sios__map_put(&m, keys[i], keys[i]);
	}
	for (int i = 0; i < 2000; i += 2)
		if (sios__map_del(&m, keys[i]) != keys[i])
			ok = 0;
	for (int i = 0; i < 2000; i++)
		if ((sios__map_get(&m, keys[i]) != NULL) != (i % 2 == 1))
			ok = 0;
	CHECK(ok && m.len == 1000, "map put/get/del over 2000 keys");
	{
		size_t it = 0, n = 0;

		while (sios__map_next(&m, &it))
			n++;
		CHECK(n == 1000, "map iteration sees every live key once");
	}
	sios__map_free(&m);
}

static int fired[8];
static sios__wheel W;
static sios__timer T[8];

static void fire(sios__timer *t) { fired[t - T]++; }

static void refire(sios__timer *t)
{
	fired[t - T]++;
	if (fired[t - T] < 3)
		sios__wheel_add(&W, t, t->expires + 10);
}

static void test_wheel(void)
{
	sios__wheel_init(&W, 1000);
	for (int i = 0; i < 4; i++)
		sios__timer_init(&T[i], fire);
	sios__timer_init(&T[4], refire);
	sios__wheel_add(&W, &T[0], 1010);
	sios__wheel_add(&W, &T[1], 1500);
	sios__wheel_add(&W, &T[2], 1000 + 10000); /* more than one turn away */
	sios__wheel_add(&W, &T[3], 1020);
	sios__wheel_add(&W, &T[4], 1005);
	sios__timer_cancel(&W, &T[3]);
	sios__wheel_advance(&W, 1009);
	CHECK(!fired[0], "a timer does not fire early");
	sios__wheel_advance(&W, 1010 + SIOS__WHEEL_TICK_MS - 1);
	CHECK(fired[0] == 1, "a timer fires within one tick of its due time");
	sios__wheel_advance(&W, 1600);
	CHECK(fired[1] == 1 && !fired[2] && !fired[3], "later timers wait; a cancelled one never fires");
	CHECK(fired[4] == 3, "a timer re-armed from its callback fires again");
	sios__wheel_advance(&W, 11000);
	CHECK(fired[2] == 1 && W.count == 0, "a timer several turns away fires once, on time");
}

int main(void)
{
	test_packets();
	test_payloads();
	test_base64();
	test_ids();
	test_map();
	test_wheel();
	return DONE();
}
