/* pool: sync.Pool get+put per op (Go's BenchmarkPool): one goroutine per P, each putting
 * its own object and getting one back, N/P times; the main goroutine waits on a
 * WaitGroup. Run at 1 P (`pool`) and 2 Ps (`pool_2p`, bench/c/pool_2p.c includes this
 * file). Reports ns per put+get pair (wall time / pairs: at 2 Ps, throughput).
 * Go twin: bench/go/pool.go. */
#include "bench.h"

#ifndef POOL_NAME
#define POOL_NAME "pool"
#endif

enum { MAXG = 64 };
static long long n, per;
static gort_pool *pool;
static gort_waitgroup wg;
static long long sums[MAXG][8]; /* one cache line each */
static char objs[MAXG][64];

static void worker(void *arg) {
    long long id = (long long)(intptr_t)arg;
    void *mine = objs[id];
    long long s = 0;
    for (long long i = 0; i < per; i++) {
        gort_pool_put(pool, mine);
        mine = gort_pool_get(pool);
        /* NULL is allowed (Go's too): the object may sit in the private slot of the P this
           goroutine ran on before sysmon took it away in the middle of the loop. */
        if (mine == NULL) mine = objs[id];
        else s++;
    }
    sums[id][0] = s;
    gort_waitgroup_done(&wg);
}

static int bench_main(void *arg) {
    (void)arg;
    int g = gort_gomaxprocs(0);
    if (g > MAXG) g = MAXG;
    per = n / g;
    pool = gort_pool_new(NULL, NULL, NULL);
    int64_t t0 = bench_now();
    gort_waitgroup_add(&wg, g);
    for (int i = 0; i < g; i++) BENCH_CHECK(gort_go(worker, (void *)(intptr_t)i));
    gort_waitgroup_wait(&wg);
    int64_t elapsed = bench_now() - t0;
    long long total = 0;
    for (int i = 0; i < g; i++) total += sums[i][0];
    if (total < per * g - per / 100) { fprintf(stderr, "gets found the pool empty too often\n"); return 1; }
    gort_pool_free(pool);
    bench_report(POOL_NAME, elapsed, per * g);
    return 0;
}

int main(int argc, char **argv) {
    n = bench_n(argc, argv, 20000000);
    return gort_main(bench_main, NULL);
}
