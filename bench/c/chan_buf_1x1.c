/* chan_buf_1x1: one producer sends N int64 values through a channel of capacity 1024 to
 * one consumer; the main goroutine waits for the consumer on a WaitGroup. Reports ns per
 * value. Go twin: bench/go/chan_buf.go. */
#include "bench.h"

static long long n;
static gort_chan *ch;
static gort_waitgroup wg;
static long long total;

static void producer(void *arg) {
    (void)arg;
    for (long long i = 0; i < n; i++) gort_chan_send(ch, &i);
    gort_chan_close(ch);
}

static void consumer(void *arg) {
    (void)arg;
    long long v, sum = 0;
    while (gort_chan_recv(ch, &v) == 1) sum += v;
    total = sum;
    gort_waitgroup_done(&wg);
}

static int bench_main(void *arg) {
    (void)arg;
    ch = gort_chan_make(sizeof(long long), 1024);
    int64_t t0 = bench_now();
    gort_waitgroup_add(&wg, 1);
    BENCH_CHECK(gort_go(consumer, NULL));
    BENCH_CHECK(gort_go(producer, NULL));
    gort_waitgroup_wait(&wg);
    int64_t elapsed = bench_now() - t0;
    if (total != n * (n - 1) / 2) { fprintf(stderr, "wrong sum\n"); return 1; }
    bench_report("chan_buf_1x1", elapsed, n);
    return 0;
}

int main(int argc, char **argv) {
    n = bench_n(argc, argv, 10000000);
    return gort_main(bench_main, NULL);
}
