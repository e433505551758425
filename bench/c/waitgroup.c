/* waitgroup: fan-out rounds: the main goroutine adds 100 to a WaitGroup, starts 100
 * goroutines that each call done, and waits; N goroutines in all. Reports ns per
 * goroutine. Go twin: bench/go/waitgroup.go. */
#include "bench.h"

enum { FAN = 100 };
static long long n;
static gort_waitgroup wg;

static void worker(void *arg) {
    (void)arg;
    gort_waitgroup_done(&wg);
}

static int bench_main(void *arg) {
    (void)arg;
    long long rounds = n / FAN;
    int64_t t0 = bench_now();
    for (long long r = 0; r < rounds; r++) {
        gort_waitgroup_add(&wg, FAN);
        for (int i = 0; i < FAN; i++) BENCH_CHECK(gort_go(worker, NULL));
        gort_waitgroup_wait(&wg);
    }
    int64_t elapsed = bench_now() - t0;
    bench_report("waitgroup", elapsed, rounds * FAN);
    return 0;
}

int main(int argc, char **argv) {
    n = bench_n(argc, argv, 2000000);
    return gort_main(bench_main, NULL);
}
