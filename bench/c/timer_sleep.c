/* timer_sleep: N goroutines each sleep a pseudo-random 1-10 ms and call done on a
 * WaitGroup; ten rounds. Twin of bench/go/timer_sleep.go (same durations: a hash of the
 * goroutine's index and the round). Reports ns per sleep over the whole run; the harness
 * also reports the CPU time of both processes, the more telling figure here, since the
 * wall time is mostly the sleeping itself. */
#include "bench.h"

#define ROUNDS 10
static gort_waitgroup wg;

static int64_t duration(uint64_t i, uint64_t round) {
    uint64_t x = i * 0x9E3779B97F4A7C15ull ^ (round + 1) * 0xBF58476D1CE4E5B9ull;
    x ^= x >> 31;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 29;
    return 1000000 + (int64_t)(x % 9000001); /* 1 ms .. 10 ms */
}

static void sleeper(void *arg) {
    gort_sleep((int64_t)(intptr_t)arg);
    gort_waitgroup_done(&wg);
}

static int run(void *arg) {
    long long n = *(long long *)arg;
    int64_t t0 = bench_now();
    for (int r = 0; r < ROUNDS; r++) {
        gort_waitgroup_add(&wg, n);
        for (long long i = 0; i < n; i++)
            BENCH_CHECK(gort_go(sleeper, (void *)(intptr_t)duration((uint64_t)i, (uint64_t)r)));
        gort_waitgroup_wait(&wg);
    }
    bench_report("timer_sleep", bench_now() - t0, n * ROUNDS);
    return 0;
}

int main(int argc, char **argv) {
    long long n = bench_n(argc, argv, 100000);
    return gort_main(run, &n);
}
