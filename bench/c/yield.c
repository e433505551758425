/* yield: two goroutines on one P (GORT_MAXPROCS=1) each call gort_gosched() N times.
 * The main goroutine is one of the two, so no third goroutine (and no timer) is involved
 * and the structure is the same as the Go twin, bench/go/yield.go.
 * Reports ns per yield (2N yields). */
#include "bench.h"
#include <stdatomic.h>

static long long n;
static atomic_int other_done;

static void yielder(void *arg) {
    (void)arg;
    for (long long i = 0; i < n; i++) gort_gosched();
    atomic_store(&other_done, 1);
}

static int bench_main(void *arg) {
    (void)arg;
    int64_t t0 = bench_now();
    BENCH_CHECK(gort_go(yielder, NULL));
    for (long long i = 0; i < n; i++) gort_gosched();
    while (!atomic_load(&other_done)) gort_gosched(); /* at most a yield or two */
    int64_t elapsed = bench_now() - t0;
    bench_report("yield", elapsed, 2 * n);
    return 0;
}

int main(int argc, char **argv) {
    n = bench_n(argc, argv, 10000000);
    return gort_main(bench_main, NULL);
}
