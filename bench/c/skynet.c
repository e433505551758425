/* skynet: a 10-ary tree of goroutines with N leaves (1M: 1,111,111 goroutines). A leaf
 * sends its ordinal to its parent; an inner node starts its 10 children, receives their
 * 10 sums from its own unbuffered channel and sends the total up. Reports ns per leaf;
 * the harness reports peak RSS. Go twin: bench/go/skynet.go (the classic benchmark). */
#include "bench.h"

typedef struct node { gort_chan *parent; long long num, size; } node;

static void skynet(void *arg) {
    node a = *(node *)arg;
    free(arg);
    if (a.size == 1) {
        gort_chan_send(a.parent, &a.num);
        return;
    }
    gort_chan *rc = gort_chan_make(sizeof(long long), 0);
    long long sub = a.size / 10;
    for (int i = 0; i < 10; i++) {
        node *c = malloc(sizeof *c);
        *c = (node){rc, a.num + i * sub, sub};
        gort_go(skynet, c);
    }
    long long sum = 0, v;
    for (int i = 0; i < 10; i++) {
        gort_chan_recv(rc, &v);
        sum += v;
    }
    gort_chan_release(rc);
    gort_chan_send(a.parent, &sum);
}

static long long n;

static int bench_main(void *arg) {
    (void)arg;
    int64_t t0 = bench_now();
    gort_chan *c = gort_chan_make(sizeof(long long), 0);
    node *root = malloc(sizeof *root);
    *root = (node){c, 0, n};
    BENCH_CHECK(gort_go(skynet, root));
    long long sum = 0;
    gort_chan_recv(c, &sum);
    int64_t elapsed = bench_now() - t0;
    if (sum != n * (n - 1) / 2) { fprintf(stderr, "wrong sum %lld\n", sum); return 1; }
    bench_report("skynet", elapsed, n);
    return 0;
}

int main(int argc, char **argv) {
    n = bench_n(argc, argv, 1000000);
    long long p10 = 1;
    while (p10 * 10 <= n) p10 *= 10;
    n = p10; /* the tree needs a power of 10 leaves: round down (BENCH_SCALE) */
    return gort_main(bench_main, NULL);
}
