/* heap_pause: the longest stop-the-world pause with a large live heap and churn. N MiB
 * (default 256; bench/heap/run passes 1024 with BENCH_HEAP_PAUSE_MIB=1024) of 32-byte
 * objects {next, a, b, c} linked into 1024 lists whose heads are a root table; objects are
 * appended round-robin, so each list's nodes lie scattered over the whole heap and there
 * are many lists for parallel markers to share. Then churn: 4 × (number of objects) steps,
 * each replacing the head of a pseudo-random list by a new object (the old head becomes 32
 * bytes of garbage), so the live size stays constant while the collector runs cycle after
 * cycle. Reports ns per churn step and pause_max_ns: the longest pause of the whole run
 * (gort: gort_memstats.pause_max_ns; Boehm: stop-world to start-world of every collection,
 * from its collection events, bench/c/heap.h). Only the collected heaps run it.
 * Go twin: bench/go/heap_pause.go. */
#include "heap.h"

#ifndef BENCH_NAME
#define BENCH_NAME "heap_pause" /* bench/c/heap_pause_concurrent.c reuses this file */
#endif

enum { NLISTS = 1024 };

typedef struct obj32 { struct obj32 *next; uint64_t a, b, c; } obj32;

static long long live_mib;

static int bench_main(void *arg) {
    (void)arg;
    static const size_t ptrs[] = {offsetof(obj32, next)};
    heap_type t = heap_type_new("obj32", sizeof(obj32), ptrs, 1);
    obj32 **heads = (obj32 **)heap_roots(NLISTS);
    long long nobj = live_mib * 1024 * 1024 / (long long)sizeof(obj32);
    long long steps = 4 * nobj;
    uint64_t rng = 88172645463325252ULL;

    for (long long i = 0; i < nobj; i++) {
        obj32 *o = heap_new(t);
        HEAP_OOM(o);
        o->a = (uint64_t)i;
        o->next = heads[i % NLISTS];
        heads[i % NLISTS] = o;
    }
    int64_t t0 = bench_now();
    for (long long s = 0; s < steps; s++) {
        uint64_t k = heap_rand(&rng) % NLISTS;
        obj32 *o = heap_new(t);
        HEAP_OOM(o);
        obj32 *old = heads[k];
        o->a = old->a;
        o->b = (uint64_t)s;
        o->next = old->next;
        heads[k] = o;
        heap_free(old);
    }
    int64_t elapsed = bench_now() - t0;

    long long count = 0;
    uint64_t sum = 0;
    for (int k = 0; k < NLISTS; k++)
        for (obj32 *o = heads[k]; o; o = o->next) {
            count++;
            sum += o->a;
        }
    if (count != nobj || sum != (uint64_t)nobj * (uint64_t)(nobj - 1) / 2) {
        fprintf(stderr, "heap_pause: lists hold %lld objects, sum %llu: corrupted\n", count,
                (unsigned long long)sum);
        return 1;
    }
    heap_gcstats gs = heap_read_gcstats();
    char extra[160];
    snprintf(extra, sizeof extra, "pause_max_ns=%llu num_gc=%llu live_bytes=%llu",
             (unsigned long long)gs.pause_max_ns, (unsigned long long)gs.num_gc,
             (unsigned long long)(nobj * (long long)sizeof(obj32) + NLISTS * 8));
    heap_report(BENCH_NAME, elapsed, steps, extra);
    return 0;
}

int main(int argc, char **argv) {
    live_mib = bench_n(argc, argv, 256);
    return heap_run(bench_main, NULL);
}
