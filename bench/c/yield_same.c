/* yield_same: like yield, but both yielders run the same function (two goroutines besides
 * the main one, which waits parked). With identical call chains the CPU's return-address
 * predictor is right after every switch; in `yield` the two yielders are different
 * functions and it misses once per switch. Both are "yield between two goroutines on one
 * P": the pair shows how much of a yield is that one misprediction.
 * Go twin: bench/go/yield_same.go. Reports ns per yield (2N yields). */
#include "bench.h"
#include <stdatomic.h>

static long long n;
static atomic_int done;

static void yielder(void *arg) {
    (void)arg;
    for (long long i = 0; i < n; i++) gort_gosched();
    atomic_fetch_add(&done, 1);
}

static int bench_main(void *arg) {
    (void)arg;
    int64_t t0 = bench_now();
    BENCH_CHECK(gort_go(yielder, NULL));
    BENCH_CHECK(gort_go(yielder, NULL));
    while (atomic_load(&done) < 2) gort_sleep(100000);
    bench_report("yield_same", bench_now() - t0, 2 * n);
    return 0;
}

int main(int argc, char **argv) {
    n = bench_n(argc, argv, 10000000);
    return gort_main(bench_main, NULL);
}
