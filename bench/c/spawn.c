/* spawn: the main goroutine starts N goroutines that each atomically decrement a shared
 * counter and exit, then waits until the counter reaches zero. gort has no WaitGroup yet
 * in this phase, so the main goroutine waits by polling the counter with gort_gosched()
 * (the Go twin, bench/go/spawn.go, uses sync.WaitGroup). Reports ns per goroutine;
 * the harness reports peak RSS. */
#include "bench.h"
#include <stdatomic.h>

static long long n;
static atomic_llong pending;

static void worker(void *arg) {
    (void)arg;
    atomic_fetch_sub(&pending, 1);
}

static int bench_main(void *arg) {
    (void)arg;
    int64_t t0 = bench_now();
    atomic_store(&pending, n);
    for (long long i = 0; i < n; i++) BENCH_CHECK(gort_go(worker, NULL));
    while (atomic_load(&pending) > 0) gort_gosched();
    int64_t elapsed = bench_now() - t0;
    bench_report("spawn", elapsed, n);
    return 0;
}

int main(int argc, char **argv) {
    n = bench_n(argc, argv, 1000000);
    return gort_main(bench_main, NULL);
}
