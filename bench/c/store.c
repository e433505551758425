/* store: N pointer stores into the slots of a heap object through gort_store, with the
 * collector idle (the barrier off): the inline path gort.h gives gort_store, one load of
 * the barrier flag and a branch before the store (Go's compiler emits the same check
 * before every pointer store into the heap). The pointers stored come from a small table
 * and the slots cycle through 1024, so the loop is the store and nothing else.
 * Also prints, on stderr, the same loop with plain C stores, for the "within 10% of a
 * plain store" check (BENCHMARKS.md). Go twin: bench/go/store.go. Reports ns per store. */
#include "bench.h"
#include <stddef.h>

enum { SLOTS = 1024, VALUES = 64 };

static long long n;

__attribute__((noinline)) static void run_gort(void **slots, void **values, long long count) {
    for (long long i = 0; i < count; i++) gort_store(&slots[i & (SLOTS - 1)], values[i & (VALUES - 1)]);
}

__attribute__((noinline)) static void run_plain(void **slots, void **values, long long count) {
    for (long long i = 0; i < count; i++) {
        slots[i & (SLOTS - 1)] = values[i & (VALUES - 1)];
        __asm__ volatile("" ::: "memory"); /* one store per iteration, as gort_store's loop */
    }
}

static int bench_main(void *arg) {
    (void)arg;
    static const size_t ptr0[] = {0};
    const gort_type *slot_t = gort_type_new("slot", sizeof(void *), ptr0, 1);
    void **slots = gort_new_array(slot_t, SLOTS);
    void **values = gort_new_array(slot_t, VALUES);
    if (!slots || !values) return 1;
    for (int i = 0; i < VALUES; i++) values[i] = gort_new(slot_t);
    gort_keep_alive(values);

    run_gort(slots, values, n / 10); /* warm up */
    int64_t t0 = bench_now();
    run_plain(slots, values, n);
    int64_t plain = bench_now() - t0;
    t0 = bench_now();
    run_gort(slots, values, n);
    int64_t elapsed = bench_now() - t0;
    fprintf(stderr, "store: gort_store %.3f ns, plain C store %.3f ns, ratio %.3f\n", (double)elapsed / (double)n,
            (double)plain / (double)n, (double)elapsed / (double)plain);
    gort_keep_alive(slots);
    bench_report("store", elapsed, n);
    return 0;
}

int main(int argc, char **argv) {
    n = bench_n(argc, argv, 1000000000);
    return gort_main(bench_main, NULL);
}
