/* yield: two goroutines on one P call gort_gosched() N times each; ns per yield.
 * Go: two goroutines calling runtime.Gosched() N times each. */
#include "bench.h"
#include <stdatomic.h>

enum { N = 5000000 };
static atomic_int finished;

static void yielder(void *arg) {
    (void)arg;
    for (int i = 0; i < N; i++) gort_gosched();
    atomic_fetch_add(&finished, 1);
}

static int run(void *arg) {
    (void)arg;
    int64_t t0 = gort_now();
    gort_go(yielder, NULL);
    gort_go(yielder, NULL);
    while (atomic_load(&finished) < 2) gort_sleep(100000);
    bench_report("yield", gort_now() - t0, 2LL * N);
    return 0;
}

int main(void) { return gort_main(run, NULL); }
