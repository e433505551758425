/* Shared bits of the C benchmarks: the clock and the RESULT line bench/run parses. */
#ifndef GORT_BENCH_H
#define GORT_BENCH_H
#include <gort.h>
#include <stdio.h>

static inline void bench_report(const char *name, int64_t elapsed_ns, long long ops) {
    printf("RESULT name=%s ns_per_op=%.2f ops=%lld\n", name, (double)elapsed_ns / (double)ops, ops);
}
#endif
