/* sync.Pool under stress on every P (Go's TestPoolStress, written afresh, with an exact
 * account): 8 goroutines and a foreign thread get and put objects (GC-heap objects from
 * gort_alloc_noscan) in bursts while collections run all along (gcstress, plus gort_gc
 * from one goroutine) and gomaxprocs changes twice. Each object carries a state word:
 * a put moves it OUT -> IN, a get IN -> OUT, free_fn IN -> FREED; any other transition is
 * an object handed out twice, lost track of or freed while in use. The collector poisons
 * what it frees (gcpoison), so an object collected while the pool or a pending free_fn
 * call still holds it shows up as a broken state word. At the end every goroutine puts
 * back what it holds, gort_pool_free runs, and every object new_fn made must have been
 * through free_fn exactly once. */
// ENV: GORT_MAXPROCS=4
// ENV: GORT_DEBUG=gcpoison=1,gcstress=997
// ASAN: yes
// CONCURRENT: yes
// TIMEOUT: 300
#include "check.h"
#include <gort.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

enum { G = 8, ITERS = 20000, BURST = 40 };
enum { OUT = 0x0111, IN = 0x0222, FREED = 0x0333 };

struct obj {
    _Atomic uint32_t state;
    uint32_t magic;
};

static gort_pool *pool;
static atomic_long created, freed;
static gort_waitgroup wg;
static atomic_int stop_gc, workers_done;

static void *new_obj(void *ctx) {
    (void)ctx;
    struct obj *o = gort_alloc_noscan(sizeof *o);
    CHECK(o != NULL);
    atomic_store(&o->state, OUT);
    o->magic = 0x600d;
    atomic_fetch_add(&created, 1);
    return o;
}

static void free_obj(void *p, void *ctx) {
    (void)ctx;
    struct obj *o = p;
    CHECK_EQ(o->magic, 0x600d);
    uint32_t want = IN;
    if (!atomic_compare_exchange_strong(&o->state, &want, FREED)) {
        fprintf(stderr, "free_fn: state %#x\n", (unsigned)want);
        CHECK(0);
    }
    atomic_fetch_add(&freed, 1);
}

static struct obj *take(void) {
    struct obj *o = gort_pool_get(pool);
    CHECK(o != NULL);
    CHECK_EQ(o->magic, 0x600d);
    uint32_t want = IN;
    if (o->state == OUT) return o; /* fresh from new_fn */
    if (!atomic_compare_exchange_strong(&o->state, &want, OUT)) {
        fprintf(stderr, "get: state %#x\n", (unsigned)want);
        CHECK(0);
    }
    return o;
}

static void give(struct obj *o) {
    uint32_t want = OUT;
    CHECK(atomic_compare_exchange_strong(&o->state, &want, IN));
    gort_pool_put(pool, o);
}

static void churn(unsigned seed) {
    struct obj *held[BURST];
    for (int i = 0; i < ITERS; i++) {
        seed = seed * 1103515245u + 12345u;
        int k = 1 + (int)((seed >> 16) % BURST);
        for (int j = 0; j < k; j++) held[j] = take();
        if ((seed >> 8) % 7 == 0) gort_gosched();
        for (int j = 0; j < k; j++) give(held[j]);
    }
}

static void worker(void *arg) {
    churn((unsigned)(uintptr_t)arg);
    atomic_fetch_add(&workers_done, 1);
    gort_waitgroup_done(&wg);
}

static void collector(void *arg) {
    (void)arg;
    for (int i = 0; !atomic_load(&stop_gc); i++) {
        gort_gc();
        if (i == 3) gort_gomaxprocs(2);
        if (i == 6) gort_gomaxprocs(4);
        gort_sleep(2000000);
    }
    gort_waitgroup_done(&wg);
}

static void *foreign(void *arg) {
    churn((unsigned)(uintptr_t)arg);
    return NULL;
}

static int run(void *arg) {
    (void)arg;
    pool = gort_pool_new(new_obj, free_obj, NULL);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, foreign, (void *)(uintptr_t)99), 0);
    gort_waitgroup_add(&wg, G);
    for (int i = 0; i < G; i++) CHECK_EQ(gort_go(worker, (void *)(uintptr_t)(i + 1)), 0);
    gort_waitgroup_wait(&wg);
    CHECK_EQ(pthread_join(t, NULL), 0);
    /* Collections while nobody uses the pool, then with a goroutine collecting all along
       beside a second round of churn. */
    gort_gc();
    gort_waitgroup_add(&wg, G + 1);
    CHECK_EQ(gort_go(collector, NULL), 0);
    for (int i = 0; i < G; i++) CHECK_EQ(gort_go(worker, (void *)(uintptr_t)(i + 100)), 0);
    while (atomic_load(&workers_done) < 2 * G) gort_sleep(2000000);
    atomic_store(&stop_gc, 1);
    gort_waitgroup_wait(&wg);
    gort_pool_free(pool);
    fprintf(stderr, "created %ld freed %ld\n", atomic_load(&created), atomic_load(&freed));
    CHECK_EQ(atomic_load(&freed), atomic_load(&created));
    CHECK(atomic_load(&created) >= BURST);
    return 0;
}

int main(void) { return gort_main(run, NULL); }
