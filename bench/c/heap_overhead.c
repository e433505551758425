/* heap_overhead: peak RSS per live byte at gc_percent 100 (GOGC=100, GORT_GC=100; Boehm at
 * its default free-space divisor). A root table of slots holds N MiB (default 256) of
 * pointer-free objects of 16 to 256 bytes (31 sizes, 8 apart, xorshift64*); then 4 ×
 * (number of slots) steps each replace a pseudo-random slot's object by a new one of a
 * new size (the old one becomes garbage; on mimalloc it is freed: the floor). Every object
 * has its first and last word written. live_bytes is the peak of the exact bytes the
 * program holds (requested object sizes + the slot table); bench/heap/run divides the
 * process's peak RSS by it. Compiled three times (bench/c/heap.h); Go twin:
 * bench/go/heap_overhead.go. */
#include "heap.h"

enum { NSIZES = 31 };
#define OBJ_SIZE(r) (16 + 8 * (size_t)((r) % NSIZES))
#define AVG_SIZE 136 /* mean of 16, 24, ..., 256 */

static long long live_mib;

static void *new_obj(size_t size, uint64_t tag) {
    uint64_t *o = heap_alloc_noscan(size);
    HEAP_OOM(o);
    o[0] = tag;
    o[size / 8 - 1] = tag;
    return o;
}

static int bench_main(void *arg) {
    (void)arg;
    long long nslots = live_mib * 1024 * 1024 / (AVG_SIZE + 8);
    void **slots = heap_roots((size_t)nslots);
    size_t *sizes = calloc((size_t)nslots, sizeof *sizes); /* bookkeeping, not counted */
    HEAP_OOM(sizes);
    uint64_t rng = 88172645463325252ULL;
    long long steps = 4 * nslots;
    uint64_t live = (uint64_t)nslots * 8, peak = 0;

    int64_t t0 = bench_now();
    for (long long i = 0; i < nslots; i++) {
        size_t size = OBJ_SIZE(heap_rand(&rng));
        slots[i] = new_obj(size, (uint64_t)i);
        sizes[i] = size;
        live += size;
    }
    peak = live;
    for (long long s = 0; s < steps; s++) {
        uint64_t r = heap_rand(&rng);
        long long k = (long long)((r >> 8) % (uint64_t)nslots);
        size_t size = OBJ_SIZE(r);
        heap_free(slots[k]);
        live -= sizes[k];
        slots[k] = new_obj(size, (uint64_t)s);
        sizes[k] = size;
        live += size;
        if (live > peak) peak = live;
    }
    int64_t elapsed = bench_now() - t0;

    for (long long i = 0; i < nslots; i++) {
        uint64_t *o = slots[i];
        if (o[0] != o[sizes[i] / 8 - 1]) {
            fprintf(stderr, "heap_overhead: slot %lld corrupted\n", i);
            return 1;
        }
    }
    heap_gcstats gs = heap_read_gcstats();
    char extra[128];
    snprintf(extra, sizeof extra, "live_bytes=%llu num_gc=%llu", (unsigned long long)peak,
             (unsigned long long)gs.num_gc);
    heap_report("heap_overhead", elapsed, nslots + steps, extra);
    free(sizes);
    return 0;
}

int main(int argc, char **argv) {
    live_mib = bench_n(argc, argv, 256);
    return heap_run(bench_main, NULL);
}
