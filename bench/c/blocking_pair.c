/* blocking_pair: a goroutine calls a trivial C function N times, each wrapped in
 * gort_blocking_enter/exit (what a goroutine does around a call that may block). Twin:
 * Go's cgo call of a trivial C function (bench/gocgo/call.go), which is
 * entersyscall/exitsyscall around the call. Reports ns per wrapped call. */
#include "bench.h"

static long long n;

__attribute__((noinline)) static void noop(void) {
    __asm__ volatile("" ::: "memory");
}

static int bench_main(void *arg) {
    (void)arg;
    int64_t t0 = bench_now();
    for (long long i = 0; i < n; i++) {
        gort_blocking_enter();
        noop();
        gort_blocking_exit();
    }
    int64_t elapsed = bench_now() - t0;
    bench_report("blocking_pair", elapsed, n);
    return 0;
}

int main(int argc, char **argv) {
    n = bench_n(argc, argv, 20000000);
    return gort_main(bench_main, NULL);
}
