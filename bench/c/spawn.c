/* spawn: the main goroutine starts 1M goroutines that each decrement a counter and exit,
 * then waits until all have run; ns per goroutine.
 * Go: the same with a sync.WaitGroup (wg.Done is the atomic decrement). The C side waits
 * by polling the counter every 20 us while parked (no WaitGroup in gort's API yet). */
#include "bench.h"
#include <stdatomic.h>

enum { N = 1000000 };
static atomic_long left = N;

static void child(void *arg) {
    (void)arg;
    atomic_fetch_sub(&left, 1);
}

static int run(void *arg) {
    (void)arg;
    int64_t t0 = gort_now();
    for (int i = 0; i < N; i++) gort_go(child, NULL);
    while (atomic_load(&left) > 0) gort_sleep(20000);
    bench_report("spawn", gort_now() - t0, N);
    return 0;
}

int main(void) { return gort_main(run, NULL); }
