/* The sync.Map benchmarks (issue 16), shared by bench/c/syncmap_<workload>_p<Ps>.c: one
 * goroutine per P runs N/Ps operations on one map; each goroutine draws keys from its own
 * xorshift generator. Go twin: bench/go/syncmap.go (the same workloads on sync.Map).
 *   load   65536 keys stored first (untimed); 99% loads, 1% stores of random keys
 *   mixed  65536 keys stored first (untimed); 50% loads, 50% stores of random keys
 *   los    load-or-store of keys never seen before (the map grows to N keys)
 * Reports ns per operation (wall time of the whole parallel run / N).
 *
 * SYNCMAP_IMPL=rwlock in the environment runs the same workload on the C baseline
 * instead: an open-addressing hash table (linear probing, sized up front for the keys the
 * run will store, so it never grows) behind one pthread_rwlock_t. */
#include "bench.h"

#include <pthread.h>
#include <string.h>

enum { LOAD, MIXED, LOS };
enum { PRELOAD = 65536 };

static long long n;
static int nprocs;
static gort_syncmap *m;
static gort_waitgroup wg;
static int use_rwlock;
static volatile uintptr_t sink;

/* --- the C baseline: rwlock + open addressing ------------------------------------------ */
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static uintptr_t *tkeys, *tvals; /* key UINTPTR_MAX: empty */
static size_t tmask;

static size_t thash(uintptr_t k) {
    uint64_t x = k;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x & tmask;
}
static void table_init(size_t keys) {
    size_t cap = 1;
    while (cap < 2 * keys) cap <<= 1;
    tkeys = malloc(cap * sizeof *tkeys);
    tvals = malloc(cap * sizeof *tvals);
    if (!tkeys || !tvals) exit(1);
    memset(tkeys, 0xff, cap * sizeof *tkeys);
    tmask = cap - 1;
}
static int t_load(uintptr_t k, uintptr_t *v) {
    pthread_rwlock_rdlock(&rw);
    int found = 0;
    for (size_t i = thash(k);; i = (i + 1) & tmask) {
        if (tkeys[i] == k) {
            *v = tvals[i];
            found = 1;
            break;
        }
        if (tkeys[i] == UINTPTR_MAX) break;
    }
    pthread_rwlock_unlock(&rw);
    return found;
}
static int t_put(uintptr_t k, uintptr_t v, int only_if_absent, uintptr_t *actual) {
    pthread_rwlock_wrlock(&rw);
    int loaded = 0;
    for (size_t i = thash(k);; i = (i + 1) & tmask) {
        if (tkeys[i] == k) {
            if (only_if_absent) {
                *actual = tvals[i];
                loaded = 1;
            } else {
                tvals[i] = v;
            }
            break;
        }
        if (tkeys[i] == UINTPTR_MAX) {
            tkeys[i] = k;
            tvals[i] = v;
            break;
        }
    }
    pthread_rwlock_unlock(&rw);
    return loaded;
}

/* --- the workload ----------------------------------------------------------------------- */
static inline uint64_t xs(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int kind;

static void worker(void *arg) {
    uintptr_t id = (uintptr_t)arg;
    uint64_t s = 0x9e3779b97f4a7c15ull * (id + 1);
    long long ops = n / nprocs;
    uintptr_t acc = 0, v;
    for (long long i = 0; i < ops; i++) {
        uint64_t x = xs(&s);
        uintptr_t k = (uintptr_t)(x % PRELOAD);
        switch (kind) {
        case LOAD:
        case MIXED: {
            int store = kind == LOAD ? (x >> 32) % 100 == 0 : (x >> 32) % 2 == 0;
            if (store) {
                if (use_rwlock) t_put(k, i, 0, NULL);
                else gort_syncmap_store(m, k, (uintptr_t)i);
            } else {
                if (use_rwlock ? t_load(k, &v) : gort_syncmap_load(m, k, &v)) acc += v;
            }
            break;
        }
        default: {
            uintptr_t key = (uintptr_t)(i * nprocs + (long long)id);
            if (use_rwlock) t_put(key, key, 1, &v);
            else gort_syncmap_load_or_store(m, key, key, &v);
            acc += v;
        }
        }
    }
    sink += acc;
    gort_waitgroup_done(&wg);
}

static const char *bench_name;

static int bench_main(void *arg) {
    (void)arg;
    nprocs = gort_gomaxprocs(0);
    const char *impl = getenv("SYNCMAP_IMPL");
    use_rwlock = impl && strcmp(impl, "rwlock") == 0;
    if (use_rwlock) table_init(kind == LOS ? (size_t)n : PRELOAD);
    else m = gort_syncmap_new();
    if (kind != LOS) {
        for (uintptr_t k = 0; k < PRELOAD; k++) {
            if (use_rwlock) t_put(k, k, 0, NULL);
            else gort_syncmap_store(m, k, k);
        }
    }
    int64_t t0 = bench_now();
    gort_waitgroup_add(&wg, nprocs);
    for (int i = 0; i < nprocs; i++) BENCH_CHECK(gort_go(worker, (void *)(uintptr_t)i));
    gort_waitgroup_wait(&wg);
    int64_t elapsed = bench_now() - t0;
    bench_report(bench_name, elapsed, (n / nprocs) * nprocs);
    return 0;
}

static int syncmap_bench(int argc, char **argv, const char *name, int k, long long def) {
    bench_name = name;
    kind = k;
    n = bench_n(argc, argv, def);
    return gort_main(bench_main, NULL);
}
