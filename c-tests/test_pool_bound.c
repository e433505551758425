/* sync.Pool's bound without collections (GORT_GC=off, one P): a P keeps at most 2041
 * objects (1 private + a chain of rings of 8..1024); each put beyond that drops its
 * object at once, calling free_fn inside gort_pool_put. So 10000 puts keep 2041 and free
 * 7959 before the puts return; the gets then return the 2041, and free of the pool calls
 * nothing more. A foreign thread's list has the same bound. */
// ENV: GORT_MAXPROCS=1
// ENV: GORT_GC=off
// VALGRIND: yes
// ASAN: yes
// TIMEOUT: 120
#include "check.h"
#include <gort.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

enum { N = 10000, CAP = 2041 };

static char objs[N];
static atomic_int nfreed;
static unsigned char state[N]; /* 1: put, 2: freed, 3: got back */

static void on_free(void *o, void *ctx) {
    (void)ctx;
    int i = (int)((char *)o - objs);
    CHECK(i >= 0 && i < N);
    CHECK_EQ(state[i], 1);
    state[i] = 2;
    atomic_fetch_add(&nfreed, 1);
}

static void fill_and_check(gort_pool *p) {
    for (int i = 0; i < N; i++) {
        state[i] = 1;
        gort_pool_put(p, &objs[i]);
    }
    CHECK_EQ(atomic_load(&nfreed), N - CAP);
    int back = 0;
    for (void *o; (o = gort_pool_get(p)) != NULL; back++) {
        int i = (int)((char *)o - objs);
        CHECK_EQ(state[i], 1);
        state[i] = 3;
    }
    CHECK_EQ(back, CAP);
    gort_pool_free(p);
    CHECK_EQ(atomic_load(&nfreed), N - CAP);
}

static void *foreign(void *arg) {
    (void)arg;
    atomic_store(&nfreed, 0);
    gort_pool *p = gort_pool_new(NULL, on_free, NULL);
    /* The foreign list has no private slot: one less. */
    for (int i = 0; i < N; i++) {
        state[i] = 1;
        gort_pool_put(p, &objs[i]);
    }
    CHECK_EQ(atomic_load(&nfreed), N - (CAP - 1));
    gort_pool_free(p);
    CHECK_EQ(atomic_load(&nfreed), N);
    return NULL;
}

static int run(void *arg) {
    (void)arg;
    fill_and_check(gort_pool_new(NULL, on_free, NULL));
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, foreign, NULL), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    return 0;
}

int main(void) { return gort_main(run, NULL); }
