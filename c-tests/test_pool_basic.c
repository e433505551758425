/* sync.Pool on one P (Go's TestPool, written afresh): get after put returns the same
 * object, private slot first then the newest of the chain; a pool without new_fn returns
 * NULL when empty and calls new_fn otherwise; objects survive one collection (victim
 * cache) and are dropped by the second, free_fn called exactly once for each of them, on
 * the drain goroutine (polled for: gort_gc does not wait for it); gort_pool_free hands
 * every object still held to free_fn before it returns; a thread the runtime does not
 * own gets and puts too (the locked foreign list), and its objects are stolen by
 * goroutines. */
// ENV: GORT_MAXPROCS=1
// ENV: GORT_GC=off
// VALGRIND: yes
// ASAN: yes
// TSAN: yes
// CONCURRENT: yes
// TIMEOUT: 120
#include "check.h"
#include <gort.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

enum { N = 100, OBJS = 4096 };

static char objs[OBJS];             /* object i is &objs[i] */
static atomic_int freed[OBJS];      /* free_fn calls per object */
static atomic_int nfreed, nnew;

static void *obj(int i) { return &objs[i]; }

static void count_free(void *o, void *ctx) {
    CHECK(ctx == (void *)&nfreed);
    int i = (int)((char *)o - objs);
    CHECK(i >= 0 && i < OBJS);
    CHECK_EQ(atomic_fetch_add(&freed[i], 1), 0); /* never twice */
    atomic_fetch_add(&nfreed, 1);
}

static void *make_obj(void *ctx) {
    CHECK(ctx == (void *)&nfreed);
    return obj(OBJS - 1 - atomic_fetch_add(&nnew, 1));
}

/* Waits (polling) until free_fn ran `want` times in all. */
static void wait_freed(int want) {
    for (int i = 0; i < 20000 && atomic_load(&nfreed) < want; i++) gort_sleep(1000000);
    CHECK_EQ(atomic_load(&nfreed), want);
}

static void *foreign_thread(void *arg) {
    gort_pool *p = arg;
    for (int i = 0; i < 10; i++) gort_pool_put(p, obj(200 + i));
    void *got = gort_pool_get(p);            /* its own list, newest first */
    CHECK(got == obj(209));
    gort_pool_put(p, got);
    return NULL;
}

static int run(void *arg) {
    (void)arg;
    /* Go's TestPool, GC under our control (GORT_GC=off; gort_gc still collects). */
    gort_pool *p = gort_pool_new(NULL, count_free, &nfreed);
    CHECK(p != NULL);
    CHECK(gort_pool_get(p) == NULL);
    gort_pool_put(p, obj(1));
    gort_pool_put(p, obj(2));
    CHECK(gort_pool_get(p) == obj(1)); /* the private slot */
    CHECK(gort_pool_get(p) == obj(2)); /* the chain */
    CHECK(gort_pool_get(p) == NULL);
    gort_pool_put(p, NULL);            /* ignored */
    CHECK(gort_pool_get(p) == NULL);

    /* The same object back, many times over (one P). */
    for (int i = 0; i < 1000; i++) {
        gort_pool_put(p, obj(7));
        CHECK(gort_pool_get(p) == obj(7));
    }

    /* One collection: kept in the victim cache; a second: dropped, free_fn on each. */
    for (int i = 0; i < N; i++) gort_pool_put(p, obj(10 + i));
    gort_gc();
    CHECK(gort_pool_get(p) != NULL); /* from the victim */
    gort_gc();
    wait_freed(N - 1);
    CHECK(gort_pool_get(p) == NULL);
    for (int i = 0; i < N; i++) CHECK_EQ(atomic_load(&freed[10 + i]) <= 1, 1);
    /* A third collection drops nothing more. */
    gort_gc();
    gort_sleep(20000000);
    CHECK_EQ(atomic_load(&nfreed), N - 1);

    /* An object put back after the first collection lives in the new primary and
       survives the next one. */
    gort_pool_put(p, obj(500));
    gort_gc();
    CHECK(gort_pool_get(p) == obj(500));

    /* A foreign thread; its objects are stolen by this goroutine. */
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, foreign_thread, p), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    int stolen = 0;
    for (void *o; (o = gort_pool_get(p)) != NULL;) {
        int i = (int)((char *)o - objs);
        CHECK(i >= 200 && i < 210);
        stolen++;
    }
    CHECK_EQ(stolen, 10);

    /* gort_pool_free: free_fn for everything left, in primary and victim. */
    for (int i = 0; i < 30; i++) gort_pool_put(p, obj(1000 + i));
    gort_gc();
    for (int i = 0; i < 5; i++) gort_pool_put(p, obj(1100 + i));
    int before = atomic_load(&nfreed);
    gort_pool_free(p);
    CHECK_EQ(atomic_load(&nfreed), before + 35);
    for (int i = 0; i < 30; i++) CHECK_EQ(atomic_load(&freed[1000 + i]), 1);
    for (int i = 0; i < 5; i++) CHECK_EQ(atomic_load(&freed[1100 + i]), 1);

    /* new_fn: an empty pool makes objects; NULL free_fn is allowed. */
    gort_pool *q = gort_pool_new(make_obj, NULL, &nfreed);
    void *a = gort_pool_get(q);
    CHECK(a == obj(OBJS - 1));
    gort_pool_put(q, a);
    CHECK(gort_pool_get(q) == a);
    CHECK(gort_pool_get(q) == obj(OBJS - 2));
    CHECK_EQ(atomic_load(&nnew), 2);
    gort_pool_put(q, a);
    gort_pool_free(q); /* nothing to call */
    gort_pool_free(NULL);
    return 0;
}

int main(void) { return gort_main(run, NULL); }
