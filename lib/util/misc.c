/* ids, base64, clocks, logging, error and reason strings, version. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "util.h"

/* ---- randomness ------------------------------------------------------ */

/* getrandom() in 4 KB refills: one system call per ~270 ids. */
/* Ids and randomness come from a pool refilled by getrandom(). One pool per
 * thread (two servers may run in two threads); a forked child starts with
 * an empty one, or it would hand out its parent's ids. */
static _Thread_local unsigned char rpool[4096];
static _Thread_local size_t rpool_left;
static pthread_once_t rpool_once = PTHREAD_ONCE_INIT;

static void rpool_forget(void)
{
	memset(rpool, 0, sizeof(rpool));
	rpool_left = 0;
}

static void rpool_init(void) { pthread_atfork(NULL, NULL, rpool_forget); }

void sios__random(void *p, size_t n)
{
	unsigned char *o = p;

	pthread_once(&rpool_once, rpool_init);
	while (n) {
		size_t k;

		if (!rpool_left) {
			size_t got = 0;

			while (got < sizeof(rpool)) {
				ssize_t r = getrandom(rpool + got, sizeof(rpool) - got, 0);

				if (r < 0) {
					if (errno == EINTR)
						continue;
					abort(); /* no entropy source: nothing safe to do */
				}
				got += (size_t)r;
			}
			rpool_left = sizeof(rpool);
		}
		k = n < rpool_left ? n : rpool_left;
		memcpy(o, rpool + sizeof(rpool) - rpool_left, k);
		/* wipe what was handed out */
		memset(rpool + sizeof(rpool) - rpool_left, 0, k);
		rpool_left -= k;
		o += k;
		n -= k;
	}
}

static const char b64url[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b64std[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void sios__id(char out[SIOS__ID_LEN + 1])
{
	unsigned char r[15];

	sios__random(r, sizeof(r));
	for (int i = 0, o = 0; i < 15; i += 3) {
		uint32_t v = ((uint32_t)r[i] << 16) | ((uint32_t)r[i + 1] << 8) | r[i + 2];

		out[o++] = b64url[(v >> 18) & 63];
		out[o++] = b64url[(v >> 12) & 63];
		out[o++] = b64url[(v >> 6) & 63];
		out[o++] = b64url[v & 63];
	}
	out[SIOS__ID_LEN] = 0;
}

/* ---- base64 ---------------------------------------------------------- */

size_t sios__b64_enc_len(size_t n) { return (n + 2) / 3 * 4; }

void sios__b64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t i = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];

		*out++ = b64std[(v >> 18) & 63];
		*out++ = b64std[(v >> 12) & 63];
		*out++ = b64std[(v >> 6) & 63];
		*out++ = b64std[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		*out++ = b64std[(v >> 18) & 63];
		*out++ = b64std[(v >> 12) & 63];
		*out++ = '=';
		*out++ = '=';
	} else if (n - i == 2) {
		uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);

		*out++ = b64std[(v >> 18) & 63];
		*out++ = b64std[(v >> 12) & 63];
		*out++ = b64std[(v >> 6) & 63];
		*out++ = '=';
	}
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

long sios__b64_decode(const char *in, size_t n, unsigned char *out)
{
	size_t o = 0, i;
	uint32_t acc = 0;
	int bits = 0, pad = 0;

	for (i = 0; i < n; i++) {
		int v;

		if (in[i] == '=') {
			pad++;
			continue;
		}
		if (pad)
			return -1; /* data after padding */
		v = b64val((unsigned char)in[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	if (pad > 2 || bits >= 6 || (n && (n - (size_t)pad) % 4 == 1))
		return -1;
	return (long)o;
}

/* ---- clocks ---------------------------------------------------------- */

uint64_t sios__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t sios__wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void sios__js_date(uint64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)", &tm);
}

/* ---- logging --------------------------------------------------------- */

int sios__log_level = SIOS__LOG_WARN;
static sios_log_cb log_cb;
static void *log_ud;

SIOS_EXPORT void sios_log_callback_set(int level, sios_log_cb cb, void *ud)
{
	sios__log_level = level < 0 ? 0 : level > SIOS_LOG_DEBUG ? SIOS_LOG_DEBUG : level;
	log_cb = cb;
	log_ud = ud;
}

static void log_line(int level, const char *fmt, va_list ap)
{
	static const char *names[] = {"", "error", "warn", "info", "debug"};
	char line[1024];
	int n = 0;

	if (!log_cb)
		n = snprintf(line, sizeof(line), "sios: %s: ", names[level >= 1 && level <= 4 ? level : 0]);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (log_cb)
		log_cb(level, line, log_ud);
	else
		fprintf(stderr, "%s\n", line);
}

void sios__logf(int level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(level, fmt, ap);
	va_end(ap);
}

#define LOG_BURST 20.0
#define LOG_RATE 10.0 /* lines a second */

void sios__logf_limited(int level, const char *fmt, ...)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static double tokens = LOG_BURST;
	static uint64_t last, held;
	uint64_t now = sios__now_ms(), report = 0;
	va_list ap;
	int pass;

	pthread_mutex_lock(&mu);
	tokens += (double)(now - last) * LOG_RATE / 1000.0;
	if (tokens > LOG_BURST)
		tokens = LOG_BURST;
	last = now;
	pass = tokens >= 1.0;
	if (pass) {
		tokens -= 1.0;
		report = held;
		held = 0;
	} else {
		held++;
	}
	pthread_mutex_unlock(&mu);
	if (!pass)
		return;
	if (report)
		sios__logf(level, "%llu similar lines were held back", (unsigned long long)report);
	va_start(ap, fmt);
	log_line(level, fmt, ap);
	va_end(ap);
}

/* ---- errors, reasons, version ---------------------------------------- */

static const struct {
	int code;
	const char *name, *text;
} errs[] = {
	{SIOS_OK, "SIOS_OK", "success"},
	{SIOS_ENOMEM, "SIOS_ENOMEM", "out of memory"},
	{SIOS_EINVAL, "SIOS_EINVAL", "invalid argument"},
	{SIOS_EMISUSE, "SIOS_EMISUSE", "call made on the wrong thread or in the wrong state"},
	{SIOS_ENOTSUP, "SIOS_ENOTSUP", "not supported by this build"},
	{SIOS_ECLOSED, "SIOS_ECLOSED", "connection or server closed"},
	{SIOS_ETIMEDOUT, "SIOS_ETIMEDOUT", "timed out"},
	{SIOS_ENOENT, "SIOS_ENOENT", "no such item"},
	{SIOS_EEXIST, "SIOS_EEXIST", "item already exists"},
	{SIOS_EIO, "SIOS_EIO", "system or network failure"},
	{SIOS_ETOOBIG, "SIOS_ETOOBIG", "larger than the configured limit"},
	{SIOS_EADDR, "SIOS_EADDR", "cannot listen on this address or port"},
	{SIOS_EDROPPED, "SIOS_EDROPPED", "dropped by backpressure"},
	{SIOS_ETLS, "SIOS_ETLS", "TLS certificate or key missing, unreadable or invalid"},
};

SIOS_EXPORT const char *sios_strerror(int err)
{
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		if (errs[i].code == err)
			return errs[i].text;
	return "unknown error";
}

SIOS_EXPORT const char *sios_err_name(int err)
{
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		if (errs[i].code == err)
			return errs[i].name;
	return "SIOS_E?";
}

SIOS_EXPORT const char *sios_reason_str(int reason)
{
	switch (reason) {
	case SIOS_REASON_TRANSPORT_CLOSE: return "transport close";
	case SIOS_REASON_TRANSPORT_ERROR: return "transport error";
	case SIOS_REASON_PING_TIMEOUT: return "ping timeout";
	case SIOS_REASON_PARSE_ERROR: return "parse error";
	case SIOS_REASON_FORCED_CLOSE: return "forced close";
	case SIOS_REASON_SERVER_SHUTDOWN: return "server shutting down";
	case SIOS_REASON_CLIENT_NAMESPACE_DISCONNECT: return "client namespace disconnect";
	case SIOS_REASON_SERVER_NAMESPACE_DISCONNECT: return "server namespace disconnect";
	case SIOS_REASON_SLOW_CONSUMER: return "slow consumer";
	}
	return "unknown";
}

SIOS_EXPORT const char *sios_version(void) { return SIOS_VERSION_STRING; }

SIOS_EXPORT int sios_version_number(void) { return SIOS_VERSION_NUMBER; }

SIOS_EXPORT unsigned sios_features(void)
{
	unsigned f = SIOS_FEATURE_TLS;
#if defined(SIOS_WITH_REDIS) && SIOS_WITH_REDIS
	f |= SIOS_FEATURE_REDIS;
#endif
#ifdef SIOS_THREAD_CHECKS
	f |= SIOS_FEATURE_THREAD_CHECKS;
#endif
	return f;
}
