/* A tiny unit-test harness: each tests/unit/test_*.c is one program; a failed CHECK
 * prints file:line and the expression, and the program exits 1 at the end. */
#ifndef PS_UNIT_H
#define PS_UNIT_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int unit_failures;
static int unit_checks;

#define CHECK(cond) do {							\
	unit_checks++;								\
	if (!(cond)) {								\
		unit_failures++;						\
		fprintf(stderr, "%s:%d: CHECK failed: %s\n",			\
		    __FILE__, __LINE__, #cond);					\
	}									\
} while (0)

#define CHECK_NEAR(a, b, eps) do {						\
	double unit_a = (a), unit_b = (b);					\
	unit_checks++;								\
	if (!(fabs(unit_a - unit_b) <= (eps))) {				\
		unit_failures++;						\
		fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.9g, %s = %.9g\n", \
		    __FILE__, __LINE__, #a, unit_a, #b, unit_b);		\
	}									\
} while (0)

#define CHECK_STR(a, b) do {							\
	const char *unit_sa = (a), *unit_sb = (b);				\
	unit_checks++;								\
	if (unit_sa == NULL || unit_sb == NULL || strcmp(unit_sa, unit_sb) != 0) { \
		unit_failures++;						\
		fprintf(stderr, "%s:%d: CHECK_STR failed: \"%s\" != \"%s\"\n",	\
		    __FILE__, __LINE__, unit_sa ? unit_sa : "(null)",		\
		    unit_sb ? unit_sb : "(null)");				\
	}									\
} while (0)

/* True when string s contains sub: for checking the wording of error causes. */
#define CHECK_CONTAINS(s, sub) do {						\
	const char *unit_s = (s);						\
	unit_checks++;								\
	if (unit_s == NULL || strstr(unit_s, (sub)) == NULL) {			\
		unit_failures++;						\
		fprintf(stderr, "%s:%d: CHECK_CONTAINS failed: \"%s\" lacks \"%s\"\n", \
		    __FILE__, __LINE__, unit_s ? unit_s : "(null)", (sub));	\
	}									\
} while (0)

#define RUN(test) do {								\
	int unit_before = unit_failures;					\
	test();									\
	printf("  %-40s %s\n", #test, unit_failures == unit_before ? "ok" : "FAIL"); \
} while (0)

#define UNIT_DONE() (printf("  %d checks, %d failed\n", unit_checks, unit_failures), \
	unit_failures == 0 ? 0 : 1)

#endif
