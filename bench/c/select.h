/* The body of select2.c and select4.c: K sender goroutines each send N/K values on their
 * own channel (capacity 64); the main goroutine receives all N with a K-way select over
 * the K channels. Reports ns per select. Go twin: bench/go/select.go.
 * The including file defines K and NAME. */
#include "bench.h"

static long long n;
static gort_chan *ch[K];

static void sender(void *arg) {
    gort_chan *c = arg;
    for (long long i = 0; i < n / K; i++) gort_chan_send(c, &i);
}

static int bench_main(void *arg) {
    (void)arg;
    for (int i = 0; i < K; i++) ch[i] = gort_chan_make(sizeof(long long), 64);
    long long per = n / K, total = per * K, sum = 0, v = 0;
    gort_case cs[K];
    for (int i = 0; i < K; i++) cs[i] = (gort_case){.chan = ch[i], .dir = GORT_RECV, .elem = &v};
    int64_t t0 = bench_now();
    for (int i = 0; i < K; i++) BENCH_CHECK(gort_go(sender, ch[i]));
    for (long long i = 0; i < total; i++) {
        BENCH_CHECK(gort_select(cs, K, GORT_FOREVER));
        sum += v;
    }
    int64_t elapsed = bench_now() - t0;
    if (sum != K * (per * (per - 1) / 2)) { fprintf(stderr, "wrong sum\n"); return 1; }
    bench_report(NAME, elapsed, total);
    return 0;
}

int main(int argc, char **argv) {
    n = bench_n(argc, argv, 4000000);
    return gort_main(bench_main, NULL);
}
