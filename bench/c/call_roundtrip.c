/* call_roundtrip: C calls into gort, which calls a C function and returns: N calls of
 * gort_protect(noop) from a goroutine (the runtime sets up a recover point around the call
 * each time). The twin is Go's cgo call of a trivial C function (bench/gocgo/call.go):
 * what crossing between the runtime and C costs on each side. Reports ns per call. */
#include "bench.h"

static long long n;

__attribute__((noinline)) static void noop(void *arg) {
    (void)arg;
    __asm__ volatile("" ::: "memory");
}

static int bench_main(void *arg) {
    (void)arg;
    const char *msg = NULL;
    int64_t t0 = bench_now();
    for (long long i = 0; i < n; i++) {
        if (gort_protect(noop, NULL, &msg) != 0) return 1;
    }
    int64_t elapsed = bench_now() - t0;
    bench_report("call_roundtrip", elapsed, n);
    return 0;
}

int main(int argc, char **argv) {
    n = bench_n(argc, argv, 20000000);
    return gort_main(bench_main, NULL);
}
