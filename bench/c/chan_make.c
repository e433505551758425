/* chan_make: what making and releasing a channel costs (gort_chan_make + gort_chan_release
 * of a small buffered channel, one send and one receive so the ring is touched). W
 * goroutines (W = argv[2], default 1) each do N/W rounds at once. Reports ns per round.
 * Not in benchmarks.txt (no Go twin: Go has no release); built and run by hand to
 * measure the collector's channel registry (src/gc/roots.rs), e.g.
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude bench/c/chan_make.c target/release/libgort.a \
 *      -lpthread -ldl -lm -lrt -lutil -lgcc_s -o /tmp/chan_make
 *   GORT_MAXPROCS=1 /tmp/chan_make 10000000 1; GORT_MAXPROCS=2 /tmp/chan_make 10000000 2 */
#include "bench.h"

static long long n;
static long long workers = 1;
static gort_waitgroup wg;

static void worker(void *arg) {
    long long rounds = (long long)(intptr_t)arg;
    for (long long i = 0; i < rounds; i++) {
        gort_chan *c = gort_chan_make(sizeof(long long), 4);
        if (!c) {
            fprintf(stderr, "gort_chan_make failed\n");
            exit(1);
        }
        long long v = i, out = 0;
        BENCH_CHECK(gort_chan_send(c, &v));
        BENCH_CHECK(gort_chan_recv(c, &out));
        if (out != v) exit(1);
        gort_chan_release(c);
    }
    gort_waitgroup_done(&wg);
}

static int bench_main(void *arg) {
    (void)arg;
    int64_t t0 = bench_now();
    gort_waitgroup_add(&wg, workers);
    for (long long w = 0; w < workers; w++) BENCH_CHECK(gort_go(worker, (void *)(intptr_t)(n / workers)));
    gort_waitgroup_wait(&wg);
    bench_report("chan_make", bench_now() - t0, n / workers * workers);
    return 0;
}

int main(int argc, char **argv) {
    n = bench_n(argc, argv, 10000000);
    if (argc > 2) workers = bench_n(argc - 1, argv + 1, 1);
    return gort_main(bench_main, NULL);
}
