/* GC-heap objects in a sync.Pool stay alive while the pool holds them, and while their
 * free_fn call is pending: the pool's slots and rings are roots (runtime-held bytes).
 * 300 objects (a typed parent whose pointer field holds a noscan child, found through
 * the parent's type only) exist nowhere but in the pool (their addresses are kept XORed,
 * so no word anywhere points to them) across collections; the collector poisons what it
 * frees (gcpoison), so a wrongly freed object reads 0xdb. After one collection they are
 * got back intact from the victim cache; put back and collected twice more they
 * reach free_fn intact, exactly once each. */
// ENV: GORT_DEBUG=gcpoison=1
// ENV: GORT_MAXPROCS=2
// ASAN: yes
// CONCURRENT: yes
// TIMEOUT: 120
#include "check.h"
#include <gort.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { N = 300, MASK = 0x5a5a5a5a };

struct parent {
    uint64_t tag;
    unsigned char *child;
};

static const gort_type *parent_t;
static uintptr_t *hidden; /* malloc'ed: not a root */
static atomic_int nfreed;
static unsigned char seen[N];

static void check_obj(struct parent *p) {
    CHECK(p->tag >= 1000 && p->tag < 1000 + N);
    for (int i = 0; i < 48; i++) CHECK_EQ(p->child[i], (unsigned char)p->tag);
}

static void on_free(void *o, void *ctx) {
    (void)ctx;
    struct parent *p = o;
    check_obj(p);
    CHECK_EQ(seen[p->tag - 1000]++, 0);
    atomic_fetch_add(&nfreed, 1);
}

static __attribute__((noinline)) void fill(gort_pool *pool) {
    for (int i = 0; i < N; i++) {
        struct parent *p = gort_new(parent_t);
        p->tag = 1000 + (uint64_t)i;
        p->child = gort_alloc_noscan(48);
        memset(p->child, (unsigned char)p->tag, 48);
        gort_pool_put(pool, p);
    }
}

static __attribute__((noinline)) int drain_and_hide(gort_pool *pool) {
    int n = 0;
    for (struct parent *p; (p = gort_pool_get(pool)) != NULL; n++) {
        check_obj(p);
        hidden[n] = (uintptr_t)p ^ MASK;
    }
    return n;
}

static __attribute__((noinline)) void put_back(gort_pool *pool, int n) {
    for (int i = 0; i < n; i++) gort_pool_put(pool, (void *)(hidden[i] ^ MASK));
    memset(hidden, 0, N * sizeof *hidden);
}

static int run(void *arg) {
    (void)arg;
    size_t off = offsetof(struct parent, child);
    parent_t = gort_type_new("parent", sizeof(struct parent), &off, 1);
    hidden = malloc(N * sizeof *hidden);
    gort_pool *pool = gort_pool_new(NULL, on_free, NULL);
    fill(pool);
    gort_gc(); /* primary -> victim */
    /* Churn the heap so that freed memory would be reused. */
    for (int i = 0; i < 20000; i++) memset(gort_alloc_noscan(64), 0x77, 64);
    /* All but those in another P's private slot (the goroutine may have moved between
       Ps while it waited for a collection): only that P's owner takes those. */
    int n = drain_and_hide(pool);
    CHECK(n >= N - 2 && n <= N);
    put_back(pool, n);
    gort_gc(); /* -> victim */
    gort_gc(); /* -> dropped: alive until free_fn */
    gort_gc();
    for (int i = 0; i < 20000 && atomic_load(&nfreed) < N; i++) gort_sleep(1000000);
    CHECK_EQ(atomic_load(&nfreed), N);
    gort_pool_free(pool);
    free(hidden);
    return 0;
}

int main(void) { return gort_main(run, NULL); }
