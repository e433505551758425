/* spawn: the main goroutine starts N goroutines that each atomically decrement a shared
 * counter and call done on a WaitGroup, then waits on it. Reports ns per goroutine; the
 * harness reports peak RSS. Go twin: bench/go/spawn.go. */
#include "bench.h"
#include <stdatomic.h>

static long long n;
static atomic_llong pending;
static gort_waitgroup wg;

static void worker(void *arg) {
    (void)arg;
    atomic_fetch_sub(&pending, 1);
    gort_waitgroup_done(&wg);
}

static int bench_main(void *arg) {
    (void)arg;
    int64_t t0 = bench_now();
    atomic_store(&pending, n);
    gort_waitgroup_add(&wg, n);
    for (long long i = 0; i < n; i++) BENCH_CHECK(gort_go(worker, NULL));
    gort_waitgroup_wait(&wg);
    int64_t elapsed = bench_now() - t0;
    if (atomic_load(&pending) != 0) { fprintf(stderr, "not all ran\n"); return 1; }
    bench_report("spawn", elapsed, n);
    return 0;
}

int main(int argc, char **argv) {
    n = bench_n(argc, argv, 1000000);
    return gort_main(bench_main, NULL);
}
