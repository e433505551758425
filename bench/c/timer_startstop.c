/* timer_startstop: N timer start/stop pairs (a timer made for one hour, then stopped and
 * freed), split evenly over one goroutine per P. Twin of bench/go/timer_startstop.go
 * (time.NewTimer + Stop). Reports ns per pair; the harness also reports CPU time. */
#include "bench.h"

static gort_waitgroup wg;
static long long per_worker;

static void worker(void *arg) {
    (void)arg;
    for (long long i = 0; i < per_worker; i++) {
        gort_timer *t = gort_timer_new(3600LL * 1000000000LL);
        if (!t) { fprintf(stderr, "gort_timer_new failed\n"); exit(1); }
        if (gort_timer_stop(t) != 1) { fprintf(stderr, "stop did not stop a pending timer\n"); exit(1); }
        gort_timer_free(t);
    }
    gort_waitgroup_done(&wg);
}

static int run(void *arg) {
    long long n = *(long long *)arg;
    int procs = gort_gomaxprocs(0);
    per_worker = n / procs;
    int64_t t0 = bench_now();
    gort_waitgroup_add(&wg, procs);
    for (int i = 0; i < procs; i++) BENCH_CHECK(gort_go(worker, NULL));
    gort_waitgroup_wait(&wg);
    bench_report("timer_startstop", bench_now() - t0, per_worker * procs);
    return 0;
}

int main(int argc, char **argv) {
    long long n = bench_n(argc, argv, 1000000);
    return gort_main(run, &n);
}
