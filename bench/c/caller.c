/* caller: gort_caller(1, ...) N times from a non-inlined function in a goroutine: the
 * function, file and line of the function's caller, the cost of Go's runtime.Caller(1)
 * (twin: bench/go/stack_caller.go). The same call site every time, as in a logger.
 * Reports ns per call. */
#include "bench.h"

/* Frame pointers, which gort's walks need (docs/debugging.md); bench/run compiles with
 * plain -O2. Go's frames always carry what its unwinder needs. */
#pragma GCC optimize("no-omit-frame-pointer")

static volatile int sink;

__attribute__((noinline)) static void where(void) {
    uintptr_t pc;
    const char *file, *func;
    int line;
    if (gort_caller(1, &pc, &file, &line, &func) != 1) {
        fprintf(stderr, "gort_caller failed\n");
        exit(1);
    }
    sink += line;
}

static long long n;

static int bench_main(void *arg) {
    (void)arg;
    where(); /* the first call maps the objects; not timed (Go's tables are in memory) */
    int64_t t0 = bench_now();
    for (long long i = 0; i < n; i++) where();
    int64_t elapsed = bench_now() - t0;
    bench_report("caller", elapsed, n);
    return 0;
}

int main(int argc, char **argv) {
    n = bench_n(argc, argv, 1000000);
    return gort_main(bench_main, NULL);
}
