/* bench/c/heap.h: one small allocator interface over the three C heaps that the heap
 * benchmarks (bench/c/heap_*.c) compare, chosen when the program is compiled:
 *
 *   -DHEAP_GORT      gort's garbage-collected heap (gort.h: gort_type_new, gort_new,
 *                    gort_alloc_noscan, gort_root_add, gort_read_memstats); the program
 *                    runs inside gort_main, parallel tasks are goroutines.
 *   -DHEAP_BOEHM     Boehm GC (Debian's libgc-dev, -lgc), its parallel markers started
 *                    (GC_INIT + GC_start_mark_threads); parallel tasks are threads made by
 *                    GC_pthread_create (gc.h redirects pthread_create with GC_THREADS).
 *   -DHEAP_MIMALLOC  mimalloc (libmimalloc-dev, -lmimalloc) with explicit frees: no
 *                    collector at all, the floor; parallel tasks are plain threads.
 *
 * Each benchmark is ONE source compiled three times, so the three do the same work with
 * the same code; the Go twin is bench/go/heap_*.go. bench/heap/run builds and runs them.
 *
 * The calls map one to one onto each library's natural API:
 *   heap_new(t)          a zeroed object of type t that may hold heap pointers:
 *                        gort_new / GC_MALLOC (scanned conservatively) / mi_zalloc
 *   heap_alloc_noscan(n) n bytes that hold no heap pointers: gort_alloc_noscan (zeroed) /
 *                        GC_MALLOC_ATOMIC / mi_malloc (neither of the two zeroes)
 *   heap_free(p)         what a C program with explicit memory management would free:
 *                        mi_free; a no-op on the collected heaps
 *   heap_roots(n)        n zeroed pointer slots the collector must treat as roots (the
 *                        program's global tables): calloc + gort_root_add /
 *                        GC_MALLOC_UNCOLLECTABLE / calloc
 */
#ifndef GORT_BENCH_HEAP_H
#define GORT_BENCH_HEAP_H

#include "bench.h"

#include <string.h>

#if defined(HEAP_GORT) + defined(HEAP_BOEHM) + defined(HEAP_MIMALLOC) != 1
#error "compile with exactly one of -DHEAP_GORT, -DHEAP_BOEHM, -DHEAP_MIMALLOC"
#endif

#if defined(HEAP_BOEHM)
#define GC_THREADS
#include <gc/gc.h>
#include <pthread.h>
#define HEAP_SIDE "boehm"
#elif defined(HEAP_MIMALLOC)
#include <mimalloc.h>
#include <pthread.h>
#define HEAP_SIDE "mimalloc"
#else
#define HEAP_SIDE "gort"
#endif

/* ---- types and allocation ------------------------------------------------------------ */

#if defined(HEAP_GORT)
typedef const gort_type *heap_type;

static inline heap_type heap_type_new(const char *name, size_t size, const size_t *ptr_offsets,
                                      size_t n_ptrs) {
    heap_type t = gort_type_new(name, size, ptr_offsets, n_ptrs);
    if (!t) { fprintf(stderr, "gort_type_new(%s) failed\n", name); exit(1); }
    return t;
}
static inline void *heap_new(heap_type t) { return gort_new(t); }
static inline void *heap_alloc_noscan(size_t n) { return gort_alloc_noscan(n); }
static inline void heap_free(void *p) { (void)p; }
static inline void **heap_roots(size_t n) {
    void **r = calloc(n, sizeof *r);
    if (!r) { perror("calloc"); exit(1); }
    BENCH_CHECK(gort_root_add(r, n * sizeof *r));
    return r;
}
#else
/* Boehm and mimalloc need only the size; the name is kept for symmetry. */
typedef struct heap_type_s { const char *name; size_t size; } heap_type_s;
typedef const heap_type_s *heap_type;

static inline heap_type heap_type_new(const char *name, size_t size, const size_t *ptr_offsets,
                                      size_t n_ptrs) {
    (void)ptr_offsets;
    (void)n_ptrs;
    heap_type_s *t = malloc(sizeof *t);
    if (!t) { perror("malloc"); exit(1); }
    t->name = name;
    t->size = size;
    return t;
}
#if defined(HEAP_BOEHM)
static inline void *heap_new(heap_type t) { return GC_MALLOC(t->size); }
static inline void *heap_alloc_noscan(size_t n) { return GC_MALLOC_ATOMIC(n); }
static inline void heap_free(void *p) { (void)p; }
static inline void **heap_roots(size_t n) {
    void **r = GC_MALLOC_UNCOLLECTABLE(n * sizeof *r); /* scanned, never collected: a root */
    if (!r) { fprintf(stderr, "GC_MALLOC_UNCOLLECTABLE failed\n"); exit(1); }
    memset(r, 0, n * sizeof *r);
    return r;
}
#else
static inline void *heap_new(heap_type t) { return mi_zalloc(t->size); }
static inline void *heap_alloc_noscan(size_t n) { return mi_malloc(n); }
static inline void heap_free(void *p) { mi_free(p); }
static inline void **heap_roots(size_t n) {
    void **r = calloc(n, sizeof *r);
    if (!r) { perror("calloc"); exit(1); }
    return r;
}
#endif
#endif

/* An allocation that returned NULL ends the benchmark (none of them runs near a limit). */
#define HEAP_OOM(p)                                                                    \
    do {                                                                               \
        if (!(p)) {                                                                    \
            fprintf(stderr, "%s:%d: out of memory (%s)\n", __FILE__, __LINE__, HEAP_SIDE); \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

/* ---- collector statistics ------------------------------------------------------------ */

/* Boehm: every stop-the-world pause is timed from its collection events (called by the
 * collecting thread with the allocation lock held): from GC_EVENT_PRE_STOP_WORLD (about
 * to signal the other threads) to GC_EVENT_POST_START_WORLD (all of them resumed). Without
 * incremental mode Boehm marks entirely inside that window and sweeps lazily afterwards,
 * so the window is the whole pause a mutator sees. */
#if defined(HEAP_BOEHM)
static int64_t heap_boehm_stop_start;
static uint64_t heap_boehm_pause_max, heap_boehm_pause_total, heap_boehm_pauses;
static void heap_boehm_event(GC_EventType e) {
    if (e == GC_EVENT_PRE_STOP_WORLD) {
        heap_boehm_stop_start = bench_now();
    } else if (e == GC_EVENT_POST_START_WORLD && heap_boehm_stop_start) {
        uint64_t p = (uint64_t)(bench_now() - heap_boehm_stop_start);
        heap_boehm_stop_start = 0;
        heap_boehm_pause_total += p;
        heap_boehm_pauses++;
        if (p > heap_boehm_pause_max) heap_boehm_pause_max = p;
    }
}
#endif

typedef struct heap_gcstats {
    uint64_t num_gc;         /* collections so far (0: mimalloc) */
    uint64_t pause_max_ns;   /* longest stop-the-world pause */
    uint64_t pause_total_ns; /* all pauses */
} heap_gcstats;

static inline heap_gcstats heap_read_gcstats(void) {
    heap_gcstats s = {0, 0, 0};
#if defined(HEAP_GORT)
    gort_memstats ms;
    memset(&ms, 0, sizeof ms);
    ms.size = sizeof ms;
    gort_read_memstats(&ms);
    s.num_gc = ms.num_gc;
    s.pause_max_ns = ms.pause_max_ns;
    s.pause_total_ns = ms.pause_total_ns;
#elif defined(HEAP_BOEHM)
    s.num_gc = heap_boehm_pauses;
    s.pause_max_ns = heap_boehm_pause_max;
    s.pause_total_ns = heap_boehm_pause_total;
#endif
    return s;
}

/* ---- running: the program's main, and parallel tasks ----------------------------------- */

#if defined(HEAP_GORT)
static inline int heap_run(int (*fn)(void *), void *arg) { return gort_main(fn, arg); }
#else
static inline int heap_run(int (*fn)(void *), void *arg) {
#if defined(HEAP_BOEHM)
    GC_INIT();
    GC_set_on_collection_event(heap_boehm_event);
    GC_start_mark_threads(); /* parallel marking without waiting for a first thread */
    fprintf(stderr, "boehm: GC %u.%u.%u, %d parallel marker thread(s) besides the collecting one\n",
            GC_VERSION_MAJOR, GC_VERSION_MINOR, GC_VERSION_MICRO, GC_get_parallel());
#endif
    return fn(arg);
}
#endif

/* heap_parallel(fn, args, size, k): runs fn(args + i*size) for i < k concurrently
 * (goroutines on gort, threads otherwise) and returns when all have returned. */
#if defined(HEAP_GORT)
typedef struct heap_task { void (*fn)(void *); void *arg; gort_waitgroup *wg; } heap_task;
static void heap_task_main(void *p) {
    heap_task *t = p;
    t->fn(t->arg);
    gort_waitgroup_done(t->wg);
}
static inline void heap_parallel(void (*fn)(void *), void *args, size_t size, int k) {
    gort_waitgroup wg;
    memset(&wg, 0, sizeof wg);
    heap_task *tasks = calloc((size_t)k, sizeof *tasks);
    HEAP_OOM(tasks);
    gort_waitgroup_add(&wg, k);
    for (int i = 0; i < k; i++) {
        tasks[i] = (heap_task){fn, (char *)args + (size_t)i * size, &wg};
        BENCH_CHECK(gort_go(heap_task_main, &tasks[i]));
    }
    gort_waitgroup_wait(&wg);
    free(tasks);
}
#else
typedef struct heap_task { void (*fn)(void *); void *arg; } heap_task;
static void *heap_task_main(void *p) {
    heap_task *t = p;
    t->fn(t->arg);
    return NULL;
}
static inline void heap_parallel(void (*fn)(void *), void *args, size_t size, int k) {
    heap_task *tasks = calloc((size_t)k, sizeof *tasks);
    pthread_t *th = calloc((size_t)k, sizeof *th);
    HEAP_OOM(tasks);
    HEAP_OOM(th);
    for (int i = 0; i < k; i++) {
        tasks[i] = (heap_task){fn, (char *)args + (size_t)i * size};
        if (pthread_create(&th[i], NULL, heap_task_main, &tasks[i]) != 0) {
            perror("pthread_create");
            exit(1);
        }
    }
    for (int i = 0; i < k; i++) pthread_join(th[i], NULL);
    free(th);
    free(tasks);
}
#endif

/* A small fast PRNG (xorshift64*), the same sequence as bench/go/heap_common.go's. */
static inline uint64_t heap_rand(uint64_t *s) {
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* The RESULT line of bench.h's protocol, with key=value fields after ops= that only the heap
 * runner reads (e.g. "check=... pause_max_ns=... live_bytes=..."). */
static inline void heap_report(const char *name, int64_t elapsed_ns, long long ops,
                               const char *extra) {
    printf("RESULT name=%s ns_per_op=%.3f ops=%lld%s%s\n", name,
           ops > 0 ? (double)elapsed_ns / (double)ops : 0.0, ops, *extra ? " " : "", extra);
    fflush(stdout);
}

#endif
