/* bench/c/bench.h: the little every C benchmark shares.
 *
 * Protocol (see bench/README.md): the program takes the work size N as its only
 * argument, measures its own timed region with CLOCK_MONOTONIC (the clock Go's
 * time.Now/time.Since use for durations), and prints exactly one line on stdout:
 *     RESULT name=<name> ns_per_op=<float> ops=<int>
 * The harness measures peak RSS of the whole process from outside (bench/rusage.c).
 */
#ifndef GORT_BENCH_H
#define GORT_BENCH_H

#include <gort.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline int64_t bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The work size: argv[1] if given, else `def`. */
static inline long long bench_n(int argc, char **argv, long long def) {
    if (argc < 2) return def;
    char *end = NULL;
    long long n = strtoll(argv[1], &end, 10);
    if (!end || *end || n <= 0) {
        fprintf(stderr, "bad N: %s\n", argv[1]);
        exit(2);
    }
    return n;
}

static inline void bench_report(const char *name, int64_t elapsed_ns, long long ops) {
    printf("RESULT name=%s ns_per_op=%.3f ops=%lld\n", name,
           ops > 0 ? (double)elapsed_ns / (double)ops : 0.0, ops);
    fflush(stdout);
}

/* Fail loudly (exit 1) if a gort call that must succeed did not. */
#define BENCH_CHECK(expr)                                                              \
    do {                                                                               \
        long long bench_rc_ = (long long)(expr);                                       \
        if (bench_rc_ < 0) {                                                           \
            fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr,       \
                    gort_strerror((int)bench_rc_));                                    \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

#endif
