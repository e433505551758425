/* heap_alloc: small-object allocation. N objects of 16 to 64 bytes (7 sizes, 8 apart,
 * picked by xorshift64*), each a type whose first word is a pointer field (left nil) and
 * whose second word is written; every new object goes into slot i mod 65536 of a root
 * table, so a sliding window of the newest 64K objects stays live and the one it replaces
 * becomes garbage (on mimalloc: is freed, the floor). One mutator; the collectors may
 * mark on every P. Reports ns per allocation. Compiled three times (bench/c/heap.h); Go
 * twin: bench/go/heap_alloc.go. */
#include "heap.h"

enum { WINDOW = 65536, NSIZES = 7 };

static long long n;

static int bench_main(void *arg) {
    (void)arg;
    static const size_t ptr0[] = {0};
    static const char *names[NSIZES] = {"obj16", "obj24", "obj32", "obj40",
                                        "obj48", "obj56", "obj64"};
    heap_type types[NSIZES];
    for (int k = 0; k < NSIZES; k++)
        types[k] = heap_type_new(names[k], 16 + 8 * (size_t)k, ptr0, 1);
    void **ring = heap_roots(WINDOW);
    uint64_t rng = 88172645463325252ULL;
    uint64_t sum = 0;

    int64_t t0 = bench_now();
    for (long long i = 0; i < n; i++) {
        uint64_t *o = heap_new(types[heap_rand(&rng) % NSIZES]);
        HEAP_OOM(o);
        o[1] = (uint64_t)i;
        void **slot = &ring[i & (WINDOW - 1)];
        if (*slot) {
            sum += ((uint64_t *)*slot)[1];
            heap_free(*slot);
        }
        *slot = o;
    }
    int64_t elapsed = bench_now() - t0;

    /* What the window held: the sum of the indices that left it and that are in it. */
    for (long long j = 0; j < WINDOW; j++)
        if (ring[j]) sum += ((uint64_t *)ring[j])[1];
    uint64_t want = (uint64_t)n * (uint64_t)(n - 1) / 2;
    if (sum != want) {
        fprintf(stderr, "heap_alloc: wrong sum %llu, want %llu\n", (unsigned long long)sum,
                (unsigned long long)want);
        return 1;
    }
    heap_gcstats gs = heap_read_gcstats();
    char extra[128];
    snprintf(extra, sizeof extra, "num_gc=%llu pause_max_ns=%llu", (unsigned long long)gs.num_gc,
             (unsigned long long)gs.pause_max_ns);
    heap_report("heap_alloc", elapsed, n, extra);
    return 0;
}

int main(int argc, char **argv) {
    n = bench_n(argc, argv, 20000000);
    return heap_run(bench_main, NULL);
}
