/* gort_syncmap, every operation's semantics as Go's sync.Map documents them (sync/map_test.go's
 * behaviours, written afresh): load/store/swap/load_or_store/load_and_delete, compare_and_swap
 * and compare_and_delete (present with the value, present with another, absent), range (every
 * key once, stops on 0, may call the map from inside, may panic out), clear, keys that are 0
 * and all-ones, on a goroutine and on the main thread. */
// VALGRIND: yes
// ASAN: yes
// TSAN: yes
// TIMEOUT: 120
#include "check.h"
#include <gort.h>
#include <stdint.h>
#include <string.h>

static void basics(gort_syncmap *m) {
    uintptr_t v = 99;
    CHECK_EQ(gort_syncmap_load(m, 0, &v), 0);
    CHECK_EQ(v, 0); /* the zero value, as Go */
    gort_syncmap_store(m, 0, 10);
    gort_syncmap_store(m, UINTPTR_MAX, 20);
    CHECK_EQ(gort_syncmap_load(m, 0, &v), 1);
    CHECK_EQ(v, 10);
    CHECK_EQ(gort_syncmap_load(m, UINTPTR_MAX, &v), 1);
    CHECK_EQ(v, 20);
    gort_syncmap_store(m, 0, 11); /* replaces */
    CHECK_EQ(gort_syncmap_load(m, 0, &v), 1);
    CHECK_EQ(v, 11);

    /* swap: loaded and previous */
    CHECK_EQ(gort_syncmap_swap(m, 5, 50, &v), 0);
    CHECK_EQ(v, 0);
    CHECK_EQ(gort_syncmap_swap(m, 5, 51, &v), 1);
    CHECK_EQ(v, 50);

    /* load_or_store */
    CHECK_EQ(gort_syncmap_load_or_store(m, 6, 60, &v), 0);
    CHECK_EQ(v, 60);
    CHECK_EQ(gort_syncmap_load_or_store(m, 6, 61, &v), 1);
    CHECK_EQ(v, 60);

    /* load_and_delete */
    CHECK_EQ(gort_syncmap_load_and_delete(m, 6, &v), 1);
    CHECK_EQ(v, 60);
    CHECK_EQ(gort_syncmap_load_and_delete(m, 6, &v), 0);
    CHECK_EQ(v, 0);
    CHECK_EQ(gort_syncmap_load(m, 6, NULL), 0);
    gort_syncmap_delete(m, 6); /* absent: nothing */
    gort_syncmap_delete(m, 5);
    CHECK_EQ(gort_syncmap_load(m, 5, NULL), 0);

    /* compare_and_swap: absent, wrong value, right value */
    CHECK_EQ(gort_syncmap_compare_and_swap(m, 7, 0, 70), 0); /* absent, even with old = 0 */
    CHECK_EQ(gort_syncmap_load(m, 7, NULL), 0);
    gort_syncmap_store(m, 7, 70);
    CHECK_EQ(gort_syncmap_compare_and_swap(m, 7, 71, 72), 0);
    CHECK_EQ(gort_syncmap_load(m, 7, &v), 1);
    CHECK_EQ(v, 70);
    CHECK_EQ(gort_syncmap_compare_and_swap(m, 7, 70, 72), 1);
    CHECK_EQ(gort_syncmap_load(m, 7, &v), 1);
    CHECK_EQ(v, 72);
    CHECK_EQ(gort_syncmap_compare_and_swap(m, 7, 72, 72), 1); /* same value: still a swap */

    /* compare_and_delete: absent, wrong value, right value */
    CHECK_EQ(gort_syncmap_compare_and_delete(m, 8, 0), 0);
    CHECK_EQ(gort_syncmap_compare_and_delete(m, 7, 70), 0);
    CHECK_EQ(gort_syncmap_load(m, 7, NULL), 1);
    CHECK_EQ(gort_syncmap_compare_and_delete(m, 7, 72), 1);
    CHECK_EQ(gort_syncmap_load(m, 7, NULL), 0);
    CHECK_EQ(gort_syncmap_compare_and_delete(m, 7, 72), 0);

    gort_syncmap_clear(m);
    CHECK_EQ(gort_syncmap_load(m, 0, NULL), 0);
    CHECK_EQ(gort_syncmap_load(m, UINTPTR_MAX, NULL), 0);
}

enum { N = 5000 };
static unsigned char seen[N];

struct walk {
    gort_syncmap *m;
    int visits, stop_after, mutate;
};

static int visit(uintptr_t k, uintptr_t v, void *ctx) {
    struct walk *w = ctx;
    CHECK(k < N);
    CHECK_EQ(v, k * 3);
    CHECK_EQ(seen[k], 0); /* at most once */
    seen[k] = 1;
    w->visits++;
    if (w->mutate) {
        /* the map may be used from inside: delete this key, add one outside the range of
           keys, change another's value */
        gort_syncmap_delete(w->m, k);
        gort_syncmap_store(w->m, k + N, 1);
        CHECK_EQ(gort_syncmap_load(w->m, k, NULL), 0);
    }
    return w->stop_after == 0 || w->visits < w->stop_after;
}

static int visit_outer(uintptr_t k, uintptr_t v, void *ctx) {
    struct walk *w = ctx;
    if (k >= N) {
        CHECK_EQ(v, 1);
        w->visits++;
        return 1;
    }
    return visit(k, v, ctx);
}

static void ranges(gort_syncmap *m) {
    for (uintptr_t k = 0; k < N; k++) gort_syncmap_store(m, k, k * 3);
    struct walk w = {m, 0, 0, 0};
    memset(seen, 0, sizeof seen);
    gort_syncmap_range(m, visit, &w);
    CHECK_EQ(w.visits, N);
    for (int k = 0; k < N; k++) CHECK_EQ(seen[k], 1);

    /* stops when fn returns 0 */
    struct walk s = {m, 0, 17, 0};
    memset(seen, 0, sizeof seen);
    gort_syncmap_range(m, visit, &s);
    CHECK_EQ(s.visits, 17);

    /* fn changes the map: each original key still visited exactly once (present until its
       own visit), and at the end only the added keys remain */
    struct walk mu = {m, 0, 0, 1};
    memset(seen, 0, sizeof seen);
    gort_syncmap_range(m, visit_outer, &mu);
    for (int k = 0; k < N; k++) CHECK_EQ(seen[k], 1);
    CHECK(mu.visits >= N && mu.visits <= 2 * N);
    for (uintptr_t k = 0; k < N; k++) {
        CHECK_EQ(gort_syncmap_load(m, k, NULL), 0);
        CHECK_EQ(gort_syncmap_load(m, k + N, NULL), 1);
    }
    gort_syncmap_clear(m);
    struct walk e = {m, 0, 0, 0};
    gort_syncmap_range(m, visit, &e);
    CHECK_EQ(e.visits, 0);
}

/* A panic out of the range function: recovered by gort_protect, the map is fine. */
static int panicking(uintptr_t k, uintptr_t v, void *ctx) {
    (void)k, (void)v;
    if (++*(int *)ctx == 3) gort_panic("out of the walk");
    return 1;
}

static gort_syncmap *pm;
static int pcount;
static void range_panics(void *arg) {
    (void)arg;
    gort_syncmap_range(pm, panicking, &pcount);
}

static void panic_out(gort_syncmap *m) {
    for (uintptr_t k = 1; k <= 10; k++) gort_syncmap_store(m, k, k);
    pm = m;
    pcount = 0;
    const char *msg = NULL;
    CHECK_EQ(gort_protect(range_panics, NULL, &msg), 1);
    CHECK(msg != NULL && strcmp(msg, "out of the walk") == 0);
    CHECK_EQ(pcount, 3);
    uintptr_t v;
    CHECK_EQ(gort_syncmap_swap(m, 3, 33, &v), 1);
    CHECK_EQ(v, 3);
    gort_syncmap_clear(m);
}

static void all(gort_syncmap *m) {
    basics(m);
    ranges(m);
    panic_out(m);
}

static void in_goroutine(void *arg) {
    gort_syncmap *m = gort_syncmap_new();
    CHECK(m != NULL);
    all(m);
    gort_syncmap_free(m);
    gort_waitgroup_done(arg);
}

int main(void) {
    gort_syncmap *m = gort_syncmap_new();
    CHECK(m != NULL);
    all(m); /* a thread the runtime does not own */
    gort_syncmap_free(m);
    gort_syncmap_free(NULL);

    gort_waitgroup wg = GORT_WAITGROUP_INIT;
    gort_waitgroup_add(&wg, 1);
    CHECK_EQ(gort_go(in_goroutine, &wg), 0);
    gort_waitgroup_wait(&wg);
    return 0;
}
