/* mutex: 8 goroutines each lock a shared mutex, increment a counter and unlock, N/8
 * times; the main goroutine waits on a WaitGroup. Reports ns per lock/unlock pair.
 * Go twin: bench/go/mutex.go. */
#include "bench.h"

enum { G = 8 };
static long long n;
static gort_mutex mu;
static gort_waitgroup wg;
static long long counter;

static void worker(void *arg) {
    (void)arg;
    for (long long i = 0; i < n / G; i++) {
        gort_mutex_lock(&mu);
        counter++;
        gort_mutex_unlock(&mu);
    }
    gort_waitgroup_done(&wg);
}

static int bench_main(void *arg) {
    (void)arg;
    int64_t t0 = bench_now();
    gort_waitgroup_add(&wg, G);
    for (int i = 0; i < G; i++) BENCH_CHECK(gort_go(worker, NULL));
    gort_waitgroup_wait(&wg);
    int64_t elapsed = bench_now() - t0;
    if (counter != (n / G) * G) { fprintf(stderr, "wrong count\n"); return 1; }
    bench_report("mutex", elapsed, counter);
    return 0;
}

int main(int argc, char **argv) {
    n = bench_n(argc, argv, 10000000);
    return gort_main(bench_main, NULL);
}
