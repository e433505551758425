/* dc_sum: divide-and-conquer sum of 0..N-1: every inner node starts two child goroutines
 * for the halves of its range and waits for them on its own WaitGroup (on its stack), as
 * a fork/join program does. 2N-1 goroutines, N-1 WaitGroups. Reports ns per leaf. Go twin:
 * bench/go/dc_sum.go; Go is slow here because its semaphore queues are keyed by address in
 * a treap per bucket (golang/go#38420). */
#include "bench.h"

typedef struct task { long long lo, hi, result; gort_waitgroup *done; } task;

static void dc(void *arg) {
    task *t = arg;
    if (t->hi - t->lo == 1) {
        t->result = t->lo;
    } else {
        long long mid = t->lo + (t->hi - t->lo) / 2;
        gort_waitgroup wg = GORT_WAITGROUP_INIT;
        task a = {t->lo, mid, 0, &wg}, b = {mid, t->hi, 0, &wg};
        gort_waitgroup_add(&wg, 2);
        gort_go(dc, &a);
        gort_go(dc, &b);
        gort_waitgroup_wait(&wg);
        t->result = a.result + b.result;
    }
    if (t->done) gort_waitgroup_done(t->done);
}

static long long n;

static int bench_main(void *arg) {
    (void)arg;
    int64_t t0 = bench_now();
    task root = {0, n, 0, NULL};
    dc(&root);
    int64_t elapsed = bench_now() - t0;
    if (root.result != n * (n - 1) / 2) { fprintf(stderr, "wrong sum\n"); return 1; }
    bench_report("dc_sum", elapsed, n);
    return 0;
}

int main(int argc, char **argv) {
    n = bench_n(argc, argv, 1000000);
    return gort_main(bench_main, NULL);
}
