/* Minimal TAP for the C unit tests. */
#ifndef SIOS_TAP_H
#define SIOS_TAP_H
#include <stdio.h>
static int tap_n, tap_failed;
#define CHECK(cond, ...)                                                                   \
	do {                                                                               \
		int tap_ok_ = !!(cond);                                                    \
		tap_n++;                                                                   \
		if (tap_ok_) {                                                              \
			printf("ok %d - ", tap_n);                                         \
		} else {                                                                   \
			tap_failed++;                                                      \
			printf("not ok %d - ", tap_n);                                     \
		}                                                                          \
		printf(__VA_ARGS__);                                                       \
		printf("\n");                                                              \
		if (!tap_ok_)                                                              \
			printf("# %s:%d: %s\n", __FILE__, __LINE__, #cond);                \
	} while (0)
#define DONE() (printf("1..%d\n", tap_n), tap_failed ? 1 : 0)
#endif
