/* chan_buf_4x4: four producers send N/4 int64 values each through one channel of capacity
 * 1024 to four consumers; the last producer closes it; the main goroutine waits for the
 * consumers on a WaitGroup. Reports ns per value. Go twin: bench/go/chan_buf.go. */
#include "bench.h"
#include <stdatomic.h>

enum { P = 4, C = 4 };
static long long n;
static gort_chan *ch;
static gort_waitgroup consumers;
static atomic_int producers_left = P;
static atomic_llong total;

static void producer(void *arg) {
    (void)arg;
    for (long long i = 0; i < n / P; i++) gort_chan_send(ch, &i);
    if (atomic_fetch_sub(&producers_left, 1) == 1) gort_chan_close(ch);
}

static void consumer(void *arg) {
    (void)arg;
    long long v, sum = 0;
    while (gort_chan_recv(ch, &v) == 1) sum += v;
    atomic_fetch_add(&total, sum);
    gort_waitgroup_done(&consumers);
}

static int bench_main(void *arg) {
    (void)arg;
    ch = gort_chan_make(sizeof(long long), 1024);
    int64_t t0 = bench_now();
    gort_waitgroup_add(&consumers, C);
    for (int i = 0; i < C; i++) BENCH_CHECK(gort_go(consumer, NULL));
    for (int i = 0; i < P; i++) BENCH_CHECK(gort_go(producer, NULL));
    gort_waitgroup_wait(&consumers);
    int64_t elapsed = bench_now() - t0;
    long long per = n / P;
    if (atomic_load(&total) != P * (per * (per - 1) / 2)) { fprintf(stderr, "wrong sum\n"); return 1; }
    bench_report("chan_buf_4x4", elapsed, per * P);
    return 0;
}

int main(int argc, char **argv) {
    n = bench_n(argc, argv, 10000000);
    return gort_main(bench_main, NULL);
}
