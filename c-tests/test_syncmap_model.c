/* gort_syncmap against a reference map (sync/map_reference_test.go's idea, written afresh):
 * random operation sequences on both, every answer compared. Single-threaded first; then
 * goroutines on every P and foreign pthreads run random sequences where each operation on
 * the shared keys happens, together with its reference twin, under one lock (so the
 * answers must agree exactly), while other goroutines read the same keys with no lock and
 * check that what they see is some value the key was given. */
// ENV: GORT_MAXPROCS=4
// VALGRIND: yes
// ASAN: yes
// TSAN: yes
// CONCURRENT: yes
// TIMEOUT: 300
#include "check.h"
#include <gort.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

enum { KEYS = 97, NONE = -1 };

/* The reference: a plain array indexed by key number, NONE when absent. */
struct ref {
    long v[KEYS];
};

/* Keys spread over the word: small, huge, 0 and all-ones included. */
static uintptr_t key_of(int i) {
    if (i == 0) return 0;
    if (i == 1) return UINTPTR_MAX;
    return (uintptr_t)i * 0x9e3779b97f4a7c15u ^ ((uintptr_t)i << 3);
}

static uint64_t rnd(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

struct walk {
    const struct ref *r;
    unsigned char seen[KEYS];
    int n;
};

static int key_index(uintptr_t k) {
    for (int i = 0; i < KEYS; i++)
        if (key_of(i) == k) return i;
    return -1;
}

static int check_visit(uintptr_t k, uintptr_t v, void *ctx) {
    struct walk *w = ctx;
    int i = key_index(k);
    CHECK(i >= 0);
    CHECK_EQ(w->seen[i], 0);
    w->seen[i] = 1;
    CHECK_EQ((long)v, w->r->v[i]);
    w->n++;
    return 1;
}

/* One random operation on both maps; the answers must agree. Values are small so that
   compare-and-swap/delete often match. */
static void step(gort_syncmap *m, struct ref *r, uint64_t *s, int allow_range) {
    int i = (int)(rnd(s) % KEYS);
    uintptr_t k = key_of(i), v = rnd(s) % 5, old = rnd(s) % 5, got = 12345;
    long cur = r->v[i];
    switch (rnd(s) % (allow_range ? 10 : 9)) {
    case 0:
        CHECK_EQ(gort_syncmap_load(m, k, &got), cur != NONE);
        CHECK_EQ(got, cur == NONE ? 0 : (uintptr_t)cur);
        break;
    case 1:
        gort_syncmap_store(m, k, v);
        r->v[i] = (long)v;
        break;
    case 2:
        CHECK_EQ(gort_syncmap_swap(m, k, v, &got), cur != NONE);
        CHECK_EQ(got, cur == NONE ? 0 : (uintptr_t)cur);
        r->v[i] = (long)v;
        break;
    case 3:
        CHECK_EQ(gort_syncmap_load_or_store(m, k, v, &got), cur != NONE);
        CHECK_EQ(got, cur == NONE ? v : (uintptr_t)cur);
        if (cur == NONE) r->v[i] = (long)v;
        break;
    case 4:
        CHECK_EQ(gort_syncmap_load_and_delete(m, k, &got), cur != NONE);
        CHECK_EQ(got, cur == NONE ? 0 : (uintptr_t)cur);
        r->v[i] = NONE;
        break;
    case 5:
        gort_syncmap_delete(m, k);
        r->v[i] = NONE;
        break;
    case 6:
        CHECK_EQ(gort_syncmap_compare_and_swap(m, k, old, v), cur == (long)old);
        if (cur == (long)old) r->v[i] = (long)v;
        break;
    case 7:
        CHECK_EQ(gort_syncmap_compare_and_delete(m, k, old), cur == (long)old);
        if (cur == (long)old) r->v[i] = NONE;
        break;
    case 8:
        if (rnd(s) % 64 == 0) {
            gort_syncmap_clear(m);
            for (int j = 0; j < KEYS; j++) r->v[j] = NONE;
        }
        break;
    default: {
        struct walk w;
        memset(&w, 0, sizeof w);
        w.r = r;
        gort_syncmap_range(m, check_visit, &w);
        int want = 0;
        for (int j = 0; j < KEYS; j++) want += r->v[j] != NONE;
        CHECK_EQ(w.n, want);
        break;
    }
    }
}

static void single_threaded(void) {
    gort_syncmap *m = gort_syncmap_new();
    CHECK(m != NULL);
    struct ref r;
    for (int j = 0; j < KEYS; j++) r.v[j] = NONE;
    uint64_t s = 88172645463325252ull;
    for (int n = 0; n < 100000; n++) step(m, &r, &s, 1);
    gort_syncmap_free(m);
}

/* --- concurrent: one lock around each shared operation and its twin ------------------ */
static gort_syncmap *shared;
static struct ref shared_ref; /* under mu */
static gort_mutex mu = GORT_MUTEX_INIT;
static gort_waitgroup wg = GORT_WAITGROUP_INIT;
static atomic_int writers_left;

static void writer(uint64_t seed) {
    uint64_t s = seed;
    for (int n = 0; n < 20000; n++) {
        gort_mutex_lock(&mu);
        step(shared, &shared_ref, &s, n % 50 == 0);
        gort_mutex_unlock(&mu);
        if (n % 64 == 0) gort_gosched();
    }
}

static void writer_g(void *arg) {
    writer((uint64_t)(uintptr_t)arg);
    atomic_fetch_sub(&writers_left, 1);
    gort_waitgroup_done(&wg);
}

static void *writer_t(void *arg) {
    writer((uint64_t)(uintptr_t)arg);
    atomic_fetch_sub(&writers_left, 1);
    return NULL;
}

/* Lock-free readers: any value they see must be one the writers store (0..4). */
static void reader_g(void *arg) {
    uint64_t s = (uint64_t)(uintptr_t)arg;
    while (atomic_load(&writers_left) > 0) {
        for (int n = 0; n < 1000; n++) {
            uintptr_t v = 77;
            int found = gort_syncmap_load(shared, key_of((int)(rnd(&s) % KEYS)), &v);
            CHECK(found ? v < 5 : v == 0);
        }
        gort_gosched();
    }
    gort_waitgroup_done(&wg);
}

/* Goroutines that own their keys (no lock): their own reference, exact answers, while
   everything else runs on the same map. */
static void owner_g(void *arg) {
    uintptr_t id = (uintptr_t)arg;
    struct ref r;
    for (int j = 0; j < KEYS; j++) r.v[j] = NONE;
    uint64_t s = 0x12345 + id;
    /* A private key space: the owner's id in the top byte. The model's key_of is not
       used: build a private map instead, sharing nothing but the runtime. */
    gort_syncmap *mine = gort_syncmap_new();
    CHECK(mine != NULL);
    for (int n = 0; n < 20000; n++) step(mine, &r, &s, n % 100 == 0);
    gort_syncmap_free(mine);
    gort_waitgroup_done(&wg);
}

static int run_main(void *arg) {
    (void)arg;
    single_threaded();

    shared = gort_syncmap_new();
    CHECK(shared != NULL);
    for (int j = 0; j < KEYS; j++) shared_ref.v[j] = NONE;
    enum { GW = 4, TW = 2, READERS = 2, OWNERS = 2 };
    atomic_store(&writers_left, GW + TW);
    gort_waitgroup_add(&wg, GW + READERS + OWNERS);
    for (uintptr_t i = 0; i < GW; i++) CHECK_EQ(gort_go(writer_g, (void *)(i * 7919 + 1)), 0);
    for (uintptr_t i = 0; i < READERS; i++) CHECK_EQ(gort_go(reader_g, (void *)(i + 99)), 0);
    for (uintptr_t i = 0; i < OWNERS; i++) CHECK_EQ(gort_go(owner_g, (void *)i), 0);
    pthread_t t[TW];
    for (uintptr_t i = 0; i < TW; i++) CHECK_EQ(pthread_create(&t[i], NULL, writer_t, (void *)(i * 104729 + 5)), 0);
    for (int i = 0; i < TW; i++) CHECK_EQ(pthread_join(t[i], NULL), 0);
    gort_waitgroup_wait(&wg);

    /* The final state agrees too. */
    struct walk w;
    memset(&w, 0, sizeof w);
    w.r = &shared_ref;
    gort_syncmap_range(shared, check_visit, &w);
    for (int j = 0; j < KEYS; j++) CHECK_EQ(w.seen[j], shared_ref.v[j] != NONE);
    gort_syncmap_free(shared);
    return 0;
}

int main(void) {
    return gort_main(run_main, NULL);
}
