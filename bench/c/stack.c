/* stack: gort_stack(buf, 4096, 0) N times from a goroutine three calls deep: the calling
 * goroutine's traceback as text, the cost of Go's runtime.Stack(buf, false) (twin:
 * bench/go/stack_caller.go). Reports ns per call. */
#include "bench.h"

/* Frame pointers, which gort's walks need (docs/debugging.md); bench/run compiles with
 * plain -O2. Go's frames always carry what its unwinder needs. */
#pragma GCC optimize("no-omit-frame-pointer")

static char buf[4096];
static volatile size_t sink;

__attribute__((noinline)) static void leaf(void) {
    size_t k = gort_stack(buf, sizeof buf, 0);
    if (k == 0) {
        fprintf(stderr, "gort_stack wrote nothing\n");
        exit(1);
    }
    sink += k;
}

__attribute__((noinline)) static void middle(void) {
    leaf();
    __asm__ volatile("" ::: "memory");
}

static long long n;

static int bench_main(void *arg) {
    (void)arg;
    middle(); /* the first call maps the objects; not timed */
    int64_t t0 = bench_now();
    for (long long i = 0; i < n; i++) middle();
    int64_t elapsed = bench_now() - t0;
    bench_report("stack", elapsed, n);
    return 0;
}

int main(int argc, char **argv) {
    n = bench_n(argc, argv, 200000);
    return gort_main(bench_main, NULL);
}
