/* util: the hash map, the timer wheel, base64, ids and randomness, buffers
 * and strings, UTF-8 validation, URL encoding. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "util/util.h"

/* ---- map ---------------------------------------------------------------- */

static void test_map(void)
{
	enum { N = 20000 };
	static char keys[N][16];
	sios__map m;
	size_t it = 0, seen = 0;
	int ok = 1;

	sios__map_init(&m);
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%d", i);
		ok &= sios__map_put(&m, keys[i], keys[i]) == 0;
	}
	CHECK(ok && m.len == N, "%d keys put", N);
	ok = 1;
	for (int i = 0; i < N; i++)
		ok &= sios__map_get(&m, keys[i]) == keys[i];
	CHECK(ok && !sios__map_get(&m, "absent"), "each key found, an absent one not");
	for (int i = 0; i < N; i += 2)
		ok &= sios__map_del(&m, keys[i]) == keys[i];
	CHECK(ok && m.len == N / 2 && !sios__map_get(&m, keys[0]) && sios__map_get(&m, keys[1]),
	      "every other key deleted, the rest still there");
	while (sios__map_next(&m, &it))
		seen++;
	CHECK(seen == N / 2, "iteration visits each remaining key once (%zu)", seen);
	CHECK(sios__map_put(&m, keys[1], keys[3]) == 0 && sios__map_get(&m, keys[1]) == keys[3] &&
		      m.len == N / 2,
	      "putting an existing key replaces its value");
	/* churn: tombstones must not make the table grow for ever */
	for (int r = 0; r < 50; r++)
		for (int i = 0; i < N; i += 2) {
			sios__map_put(&m, keys[i], keys[i]);
			sios__map_del(&m, keys[i]);
		}
	CHECK(m.len == N / 2 && m.cap <= 4 * N, "put/delete churn keeps the table bounded (cap %zu)",
	      m.cap);
	sios__map_free(&m);
}

/* ---- timer wheel ---------------------------------------------------------- */

static int fired[8], order[8], nfired;

static void fire(sios__timer *t)
{
	int i = (int)(intptr_t)t->expires % 8; /* set up so that expires % 8 is the index */

	fired[i]++;
	order[nfired++] = i;
}

static void test_wheel(void)
{
	sios__wheel w;
	sios__timer t[8];
	uint64_t now = 1000000;

	sios__wheel_init(&w, now);
	for (int i = 0; i < 8; i++)
		sios__timer_init(&t[i], fire);
	/* expires chosen so that expires % 8 == i */
	sios__wheel_add(&w, &t[0], now + 40);     /* 1000040: % 8 == 0 */
	sios__wheel_add(&w, &t[1], now + 9);      /* 1000009 */
	sios__wheel_add(&w, &t[2], now + 4098);   /* beyond one turn of the wheel */
	sios__wheel_add(&w, &t[3], now + 3);
	sios__wheel_add(&w, &t[4], now + 100004); /* many turns away */
	sios__wheel_add(&w, &t[5], now + 13);
	sios__timer_cancel(&w, &t[5]);
	sios__wheel_advance(&w, now + 8);
	CHECK(nfired == 1 && fired[3] == 1, "a timer fires once its time has come, not before");
	sios__wheel_advance(&w, now + 41);
	CHECK(nfired == 3 && order[1] == 1 && order[2] == 0 && !fired[5],
	      "in order of expiry; a cancelled one never fires");
	sios__wheel_advance(&w, now + 4097);
	CHECK(!fired[2], "a timer one turn away is skipped on the first pass");
	sios__wheel_advance(&w, now + 4100);
	CHECK(fired[2] == 1, "and fires on its own turn (at the first 4 ms tick from its time)");
	sios__wheel_advance(&w, now + 100003);
	CHECK(!fired[4] && w.count == 1, "a timer many turns away waits");
	sios__wheel_advance(&w, now + 200000);
	CHECK(fired[4] == 1 && w.count == 0, "and fires even after a long jump of the clock");
	/* re-arming an armed timer moves it */
	sios__wheel_add(&w, &t[6], now + 200006);
	sios__wheel_add(&w, &t[6], now + 300006);
	sios__wheel_advance(&w, now + 250000);
	CHECK(!fired[6] && w.count == 1, "adding an armed timer again moves it");
	sios__timer_cancel(&w, &t[6]);
	CHECK(w.count == 0 && !sios__timer_armed(&t[6]), "cancel disarms");
}

/* ---- base64 ------------------------------------------------------------- */

static void test_base64(void)
{
	static const struct {
		const char *in, *out;
	} v[] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
		 {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
	int ok = 1;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char enc[16];
		unsigned char dec[16];
		size_t n = strlen(v[i].in);
		long dl;

		sios__b64_encode((const unsigned char *)v[i].in, n, enc);
		ok &= sios__b64_enc_len(n) == strlen(v[i].out) && !memcmp(enc, v[i].out, strlen(v[i].out));
		dl = sios__b64_decode(v[i].out, strlen(v[i].out), dec);
		ok &= dl == (long)n && !memcmp(dec, v[i].in, n);
	}
	CHECK(ok, "RFC 4648 test vectors encode and decode");
	{
		unsigned char dec[16];

		CHECK(sios__b64_decode("Zm9v!", 5, dec) < 0 && sios__b64_decode("Zm9vY", 5, dec) < 0 &&
			      sios__b64_decode("Z===", 4, dec) < 0 && sios__b64_decode("Zg==Zg==", 8, dec) < 0,
		      "bad characters, a lone sixth of a byte, bad padding are refused");
		CHECK(sios__b64_decode("Zm9", 3, dec) == 2 && !memcmp(dec, "fo", 2),
		      "missing padding is tolerated, as Node's Buffer does");
	}
	{
		unsigned char all[256], dec[256];
		char enc[400];

		for (int i = 0; i < 256; i++)
			all[i] = (unsigned char)i;
		sios__b64_encode(all, 256, enc);
		CHECK(sios__b64_decode(enc, sios__b64_enc_len(256), dec) == 256 && !memcmp(dec, all, 256),
		      "every byte value round-trips");
	}
}

/* ---- ids ---------------------------------------------------------------- */

static void *ids_in_thread(void *arg)
{
	char (*out)[SIOS__ID_LEN + 1] = arg;

	for (int i = 0; i < 1000; i++)
		sios__id(out[i]);
	return NULL;
}

static int cmp_id(const void *a, const void *b) { return strcmp(a, b); }

static void test_ids(void)
{
	static char ids[4000][SIOS__ID_LEN + 1];
	pthread_t t[4];
	int ok = 1, dup = 0;

	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, ids_in_thread, ids[i * 1000]);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 4000; i++) {
		ok &= strlen(ids[i]) == SIOS__ID_LEN;
		for (int k = 0; k < SIOS__ID_LEN; k++)
			ok &= !!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
				       ids[i][k]);
	}
	CHECK(ok, "ids are 20 URL-safe characters");
	qsort(ids, 4000, sizeof(ids[0]), cmp_id);
	for (int i = 1; i < 4000; i++)
		dup |= !strcmp(ids[i], ids[i - 1]);
	CHECK(!dup, "4000 ids made in four threads at once are all different");
}

/* ---- buffers, strings, UTF-8, URLs ---------------------------------------- */

static void test_buffers(void)
{
	sios__buf *b = sios__buf_from(16, "hello", 5);
	sios__str s;

	CHECK(b && b->refs == 1 && b->len == 5 && !memcmp(b->data, "hello", 5) &&
		      b->data == b->mem + 16,
	      "a buffer with headroom holds its bytes after it");
	sios__buf_ref(b);
	sios__buf_unref(b);
	CHECK(b->refs == 1, "ref and unref count");
	sios__buf_unref(b); /* freed: ASan would see a use after this */
	sios__str_init(&s);
	for (int i = 0; i < 1000; i++)
		sios__str_addf(&s, "%d,", i);
	CHECK(!s.oom && s.len == 3890 && !strncmp(s.p, "0,1,2,", 6) && s.p[s.len] == 0,
	      "a string grows and stays NUL-terminated");
	sios__str_free(&s);
}

static void test_utf8(void)
{
	static const struct {
		const char *s;
		size_t n;
		int ok;
	} v[] = {
		{"plain ascii, long enough for the fast path", 43, 1},
		{"\xc3\xa9t\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, 1},
		{"\xff\xfe", 2, 0},
		{"\xc0\xaf", 2, 0},             /* overlong '/' */
		{"\xe0\x80\xaf", 3, 0},         /* overlong, 3 bytes */
		{"\xed\xa0\x80", 3, 0},         /* a surrogate */
		{"\xf4\x90\x80\x80", 4, 0},     /* above U+10FFFF */
		{"abc\xe2\x82", 5, 0},          /* cut short */
		{"12345678\x80", 9, 0},         /* a stray continuation after the fast path */
		{"", 0, 1},
	};
	int ok = 1;

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		ok &= sios__utf8_valid(v[i].s, v[i].n) == v[i].ok;
	CHECK(ok, "UTF-8: valid text passes; overlong, surrogates, too large, cut short refused");
}

static void test_url(void)
{
	sios__str s;

	sios__str_init(&s);
	sios__url_encode(&s, "a b&c=d/é~*");
	CHECK(s.p && !strcmp(s.p, "a%20b%26c%3Dd%2F%C3%A9~*"), "URL encoding as encodeURIComponent");
	sios__str_free(&s);
}

int main(void)
{
	test_map();
	test_wheel();
	test_base64();
	test_ids();
	test_buffers();
	test_utf8();
	test_url();
	return DONE();
}
