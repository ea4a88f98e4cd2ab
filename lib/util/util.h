/* util: refcounted buffers, hash map, ids, base64, clock, timer wheel, log.
 * Knows nothing about the layers above. */
#ifndef SIOS_UTIL_H
#define SIOS_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

#include "sios.h"

#define SIOS__UNUSED(x) ((void)(x))
/* the struct T whose member m is at p */
#define sios__container_of(p, T, m) ((T *)(void *)((char *)(p) - offsetof(T, m)))

/* ---- refcounted byte buffers ----------------------------------------- */

/* A buffer with writable headroom in front of data (transports put their
 * framing there) and a reference count, so one encoded frame can sit on
 * many queues at once. */
typedef struct sios__buf {
	uint32_t refs;
	uint32_t head; /* headroom bytes before data */
	size_t len;
	size_t cap;
	unsigned char *data; /* == mem + head */
	unsigned char mem[];
} sios__buf;

sios__buf *sios__buf_new(size_t head, size_t cap);
sios__buf *sios__buf_from(size_t head, const void *p, size_t n);
static inline sios__buf *sios__buf_ref(sios__buf *b) { b->refs++; return b; }
void sios__buf_unref(sios__buf *b);

/* ---- growable string builder ----------------------------------------- */

typedef struct sios__str {
	char *p;
	size_t len, cap;
	int oom;
} sios__str;

void sios__str_init(sios__str *s);
void sios__str_free(sios__str *s);
int sios__str_reserve(sios__str *s, size_t extra);
int sios__str_add(sios__str *s, const void *p, size_t n);
int sios__str_addc(sios__str *s, char c);
int sios__str_adds(sios__str *s, const char *z);
int sios__str_addf(sios__str *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- string-keyed hash map (open addressing) -------------------------- */

typedef struct sios__map {
	struct sios__map_slot *slots;
	size_t cap; /* power of two */
	size_t len;
	size_t tombs;
} sios__map;

void sios__map_init(sios__map *m);
void sios__map_free(sios__map *m); /* keys are not owned */
/* key must stay valid while stored (it is usually inside the value). */
int sios__map_put(sios__map *m, const char *key, void *val);
void *sios__map_get(const sios__map *m, const char *key);
void *sios__map_del(sios__map *m, const char *key);
/* Iterate: *it starts at 0; returns NULL at the end. */
void *sios__map_next(const sios__map *m, size_t *it);

/* ---- ids and randomness ---------------------------------------------- */

#define SIOS__ID_LEN 20
/* 20 URL-safe base64 characters from 15 random bytes, NUL-terminated. */
void sios__id(char out[SIOS__ID_LEN + 1]);
void sios__random(void *p, size_t n);

/* ---- base64 ---------------------------------------------------------- */

size_t sios__b64_enc_len(size_t n);
/* Writes sios__b64_enc_len(n) bytes (no NUL). */
void sios__b64_encode(const unsigned char *in, size_t n, char *out);
/* Standard alphabet with padding; returns decoded length or -1. out must
 * hold n*3/4 bytes. */
long sios__b64_decode(const char *in, size_t n, unsigned char *out);

/* ---- clock ----------------------------------------------------------- */

uint64_t sios__now_ms(void);     /* monotonic */
uint64_t sios__wall_ms(void);    /* since the epoch */
/* ms since the epoch as JavaScript's String(new Date(ms)) gives it in UTC:
 * "Tue Dec 01 2026 23:24:06 GMT+0000 (Coordinated Universal Time)" */
void sios__js_date(uint64_t ms, char *buf, size_t len);

/* ---- timer wheel ----------------------------------------------------- */

/* Hashed timer wheel: O(1) add and cancel, one tick for all timers. */
#define SIOS__WHEEL_SLOTS 1024
#define SIOS__WHEEL_TICK_MS 4

typedef struct sios__timer sios__timer;
typedef void (*sios__timer_cb)(sios__timer *t);

struct sios__timer {
	sios__timer *next, *prev; /* NULL when not armed */
	uint64_t expires;         /* ms, monotonic */
	sios__timer_cb cb;
};

typedef struct sios__wheel {
	sios__timer slots[SIOS__WHEEL_SLOTS]; /* list heads */
	uint64_t tick;                         /* next tick to process */
	size_t count;
} sios__wheel;

void sios__wheel_init(sios__wheel *w, uint64_t now_ms);
void sios__timer_init(sios__timer *t, sios__timer_cb cb);
static inline int sios__timer_armed(const sios__timer *t) { return t->next != NULL; }
void sios__wheel_add(sios__wheel *w, sios__timer *t, uint64_t expires_ms);
void sios__timer_cancel(sios__wheel *w, sios__timer *t);
/* Fires every timer due at now_ms; callbacks may add and cancel timers. */
void sios__wheel_advance(sios__wheel *w, uint64_t now_ms);

/* ---- giving memory back ---------------------------------------------- */

/* After a client sent something large (a big message parsed into many
 * small cJSON nodes, attachments, a big buffer), glibc keeps the freed
 * memory in its heap: RSS stays near the peak. Measured after a 930 KB
 * amplification attempt: 14.9 MB, 6.2 MB after malloc_trim(0). Large
 * work is noted here; the loop trims when enough has been noted. */
void sios__trim_note(size_t bytes);
/* Whether at least threshold bytes were noted since the last call that
 * said so (process-wide). */
int sios__trim_due(size_t threshold);

/* ---- logging --------------------------------------------------------- */

enum { SIOS__LOG_ERR = 1, SIOS__LOG_WARN = 2, SIOS__LOG_INFO = 3, SIOS__LOG_DEBUG = 4 };
extern int sios__log_level;
void sios__logf(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define sios__log(lvl, ...)                                                                \
	do {                                                                               \
		if ((lvl) <= sios__log_level)                                              \
			sios__logf((lvl), __VA_ARGS__);                                    \
	} while (0)
/* For lines a client can cause (protocol errors, refused joins): at most
 * a burst of 20, then 10 a second, process-wide; the lines held back are
 * counted and the count is logged with the next line let through. */
void sios__logf_limited(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define sios__log_limited(lvl, ...)                                                        \
	do {                                                                               \
		if ((lvl) <= sios__log_level)                                              \
			sios__logf_limited((lvl), __VA_ARGS__);                            \
	} while (0)

/* ---- small helpers --------------------------------------------------- */

/* growable arrays of owned strings */
int sios__strv_add(char ***v, size_t *n, const char *s, int unique);
int sios__strv_copy(char ***dst, size_t *dn, char *const *src, size_t sn);
void sios__strv_free(char ***v, size_t *n);

char *sios__strdup(const char *s);
/* Whether p[0..n) is well-formed UTF-8 (RFC 3629: no overlong forms, no
 * surrogates, nothing above U+10FFFF). */
int sios__utf8_valid(const void *p, size_t n);
/* s percent-encoded as encodeURIComponent does, appended to out */
int sios__url_encode(sios__str *out, const char *s);
char *sios__strndup(const char *s, size_t n);
int sios__strcaseeq(const char *a, const char *b);

#endif
