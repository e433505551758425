/* gort_syncmap under load on every P: goroutines and foreign pthreads store, swap, delete,
 * load-or-store, compare-and-swap/delete and range over one map whose values are GC-heap
 * objects, while collections run all the time (gcstress) and freed objects are poisoned.
 * Checked: a value loaded or visited is a live object naming its key (a node or value the
 * collector lost reads as poison); the stable keys (present from start to end, only their
 * values swapped) are always found and visited by every Range; no Range visits a key twice. */
// ENV: GORT_MAXPROCS=4
// ENV: GORT_DEBUG=gcstress=211,gcpoison=1
// ASAN: yes
// CONCURRENT: yes
// TIMEOUT: 600
#include "check.h"
#include <gort.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

/* Under TSan (gcc defines __SANITIZE_THREAD__) the foreign pthreads are left out: TSan
   defers a signal that arrives while a thread waits in a futex through syscall(2), so a
   foreign thread waiting for the heap's gate (which the collector holds while it stops
   the world) never takes the stop signal, and the collector waits for it for ever. That
   is a limit of the runtime under TSan, not of the map; the other builds run them. */
#if defined(__SANITIZE_THREAD__)
enum { STABLE = 256, CHURN = 512, ROUNDS = 8000, FOREIGN = 0 };
#else
enum { STABLE = 256, CHURN = 512, ROUNDS = 40000, FOREIGN = 2 };
#endif

struct obj {
    uintptr_t key;
    uintptr_t check; /* ~key */
};

static gort_syncmap *m;

static uintptr_t stable_key(int i) {
    return ((uintptr_t)i << 4) | 1;
}
static uintptr_t churn_key(int i) {
    return ((uintptr_t)i << 4) | 2;
}

static uintptr_t make(uintptr_t key) {
    struct obj *o = gort_alloc_noscan(sizeof *o);
    CHECK(o != NULL);
    o->key = key;
    o->check = ~key;
    return (uintptr_t)o;
}

static void check_value(uintptr_t key, uintptr_t v) {
    const struct obj *o = (const struct obj *)v;
    CHECK(o != NULL);
    if (o->key != key || o->check != ~key) {
        fprintf(stderr, "key %#lx: value %p holds %#lx/%#lx\n", (unsigned long)key, (void *)o,
                (unsigned long)o->key, (unsigned long)o->check);
        CHECK(0);
    }
}

static uint64_t rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

struct walk {
    unsigned char stable[STABLE], churn[CHURN];
    int nstable;
};

static int visit(uintptr_t k, uintptr_t v, void *ctx) {
    struct walk *w = ctx;
    check_value(k, v);
    int i = (int)(k >> 4);
    if ((k & 15) == 1) {
        CHECK(i < STABLE);
        CHECK_EQ(w->stable[i], 0);
        w->stable[i] = 1;
        w->nstable++;
    } else {
        CHECK_EQ(k & 15, 2);
        CHECK(i < CHURN);
        CHECK_EQ(w->churn[i], 0);
        w->churn[i] = 1;
    }
    return 1;
}

static void work(uint64_t seed) {
    uint64_t s = seed;
    for (int n = 0; n < ROUNDS; n++) {
        int si = (int)(rnd(&s) % STABLE), ci = (int)(rnd(&s) % CHURN);
        uintptr_t sk = stable_key(si), ck = churn_key(ci), v = 0, prev = 0;
        switch (rnd(&s) % 12) {
        case 0:
        case 1:
        case 2:
            CHECK_EQ(gort_syncmap_load(m, sk, &v), 1);
            check_value(sk, v);
            break;
        case 3:
            CHECK_EQ(gort_syncmap_swap(m, sk, make(sk), &prev), 1);
            check_value(sk, prev);
            break;
        case 4:
            if (gort_syncmap_load(m, sk, &v)) {
                /* may lose to another writer; never wrong */
                gort_syncmap_compare_and_swap(m, sk, v, make(sk));
            }
            break;
        case 5:
            gort_syncmap_store(m, ck, make(ck));
            break;
        case 6:
            if (gort_syncmap_load_and_delete(m, ck, &v)) check_value(ck, v);
            break;
        case 7:
            gort_syncmap_load_or_store(m, ck, make(ck), &v);
            check_value(ck, v);
            break;
        case 8:
            if (gort_syncmap_load(m, ck, &v)) {
                check_value(ck, v);
                gort_syncmap_compare_and_delete(m, ck, v);
            }
            break;
        case 9:
            gort_syncmap_delete(m, ck);
            break;
        case 10:
            if (gort_syncmap_load(m, ck, &v)) check_value(ck, v);
            break;
        default:
            if (n % 8 == 0) {
                struct walk w;
                memset(&w, 0, sizeof w);
                gort_syncmap_range(m, visit, &w);
                CHECK_EQ(w.nstable, STABLE);
            }
            break;
        }
        if (n % 128 == 0) gort_gosched();
    }
}

static gort_waitgroup wg = GORT_WAITGROUP_INIT;

static void work_g(void *arg) {
    work((uint64_t)(uintptr_t)arg);
    gort_waitgroup_done(&wg);
}

static void *work_t(void *arg) {
    work((uint64_t)(uintptr_t)arg);
    return NULL;
}

static int run_main(void *arg) {
    (void)arg;
    m = gort_syncmap_new();
    CHECK(m != NULL);
    for (int i = 0; i < STABLE; i++) gort_syncmap_store(m, stable_key(i), make(stable_key(i)));
    enum { G = 12, T = FOREIGN };
    gort_waitgroup_add(&wg, G);
    for (uintptr_t i = 0; i < G; i++) CHECK_EQ(gort_go(work_g, (void *)(i * 2654435761u + 1)), 0);
    pthread_t t[T + 1];
    for (int i = 0; i < T; i++) CHECK_EQ(pthread_create(&t[i], NULL, work_t, (void *)(uintptr_t)(i * 40503 + 7)), 0);
    for (int i = 0; i < T; i++) CHECK_EQ(pthread_join(t[i], NULL), 0);
    gort_waitgroup_wait(&wg);

    struct walk w;
    memset(&w, 0, sizeof w);
    gort_syncmap_range(m, visit, &w);
    CHECK_EQ(w.nstable, STABLE);
    gort_gc();
    for (int i = 0; i < STABLE; i++) {
        uintptr_t v;
        CHECK_EQ(gort_syncmap_load(m, stable_key(i), &v), 1);
        check_value(stable_key(i), v);
    }
    gort_syncmap_free(m);
    return 0;
}

int main(void) {
    return gort_main(run_main, NULL);
}
