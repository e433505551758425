// The local run queue's order on one P: goroutines that yield to each other take turns
// round-robin; a fork/join tree runs depth-first (few goroutines parked at once); and a
// goroutine queued before a stream of newer ones is not overtaken for ever (the fairness
// round serves the oldest entry).
// ENV: GORT_MAXPROCS=1
// VALGRIND: yes
// TIMEOUT: 120
#include "check.h"
#include "gort.h"

#include <stdatomic.h>

/* --- K yielders take strict turns ------------------------------------------------ */
enum { K = 5, STEPS = 400 };
static int trace[K * STEPS];
static atomic_int pos, finished;

static void stepper(void *arg) {
    int who = (int)(intptr_t)arg;
    for (int i = 0; i < STEPS; i++) {
        trace[atomic_fetch_add(&pos, 1)] = who;
        gort_gosched();
    }
    atomic_fetch_add(&finished, 1);
}

static void test_round_robin(void) {
    for (intptr_t i = 0; i < K; i++) CHECK_EQ(gort_go(stepper, (void *)i), 0);
    while (atomic_load(&finished) < K) gort_gosched();
    CHECK_EQ(atomic_load(&pos), K * STEPS);
    /* After the first round, every window of K consecutive steps holds all K yielders
     * (the main goroutine's yields only interleave, they add no steps). Allow the first
     * and last rounds to be ragged. */
    for (int w = K; w + K <= K * STEPS - K; w++) {
        int seen = 0;
        for (int j = 0; j < K; j++) seen |= 1 << trace[w + j];
        CHECK_EQ(seen, (1 << K) - 1);
    }
}

/* --- fork/join runs depth-first --------------------------------------------------- */
typedef struct node { int depth; gort_waitgroup *parent; } node;
static atomic_int parked, max_parked, leaves_done;

static void fork_join(void *arg) {
    node *n = arg;
    if (n->depth > 0) {
        gort_waitgroup wg = GORT_WAITGROUP_INIT;
        node a = {n->depth - 1, &wg}, b = {n->depth - 1, &wg};
        gort_waitgroup_add(&wg, 2);
        CHECK_EQ(gort_go(fork_join, &a), 0);
        CHECK_EQ(gort_go(fork_join, &b), 0);
        int now = atomic_fetch_add(&parked, 1) + 1;
        for (int m = atomic_load(&max_parked); now > m && !atomic_compare_exchange_weak(&max_parked, &m, now);) {}
        gort_waitgroup_wait(&wg);
        atomic_fetch_sub(&parked, 1);
    }
    else
        atomic_fetch_add(&leaves_done, 1);
    if (n->parent) gort_waitgroup_done(n->parent);
}

static void test_depth_first(void) {
    enum { DEPTH = 14 }; /* 16383 inner nodes */
    node root = {DEPTH, NULL};
    fork_join(&root);
    /* Oldest first (Go's order) parks thousands of inner nodes at once (2166 here);
     * newest first parks a path's worth for each subtree the fairness round started
     * early (293 here). */
    fprintf(stderr, "fork/join: at most %d of %d inner nodes parked at once\n", atomic_load(&max_parked), (1 << DEPTH) - 1);
    CHECK(atomic_load(&max_parked) <= (1 << DEPTH) / 16);
    CHECK_EQ(atomic_load(&parked), 0);
}

/* --- an old entry is not overtaken for ever ---------------------------------------- */
static atomic_int old_ran_at = -1;

static void old_entry(void *arg) {
    (void)arg;
    atomic_store(&old_ran_at, atomic_load(&leaves_done));
}

static void test_not_overtaken(void) {
    enum { DEPTH = 14 };
    atomic_store(&leaves_done, 0);
    /* The old entry goes to runnext, and the tree's first spawn pushes it into the queue,
     * where every later goroutine is newer. Newest first alone would run it only after
     * the whole tree; the fairness round must run it early. */
    CHECK_EQ(gort_go(old_entry, NULL), 0);
    node root = {DEPTH, NULL};
    fork_join(&root);
    fprintf(stderr, "old entry ran after %d of %d leaves\n", atomic_load(&old_ran_at), 1 << DEPTH);
    CHECK(atomic_load(&old_ran_at) >= 0);
    CHECK(atomic_load(&old_ran_at) < (1 << DEPTH) / 4);
}

static int main_goroutine(void *arg) {
    (void)arg;
    test_round_robin();
    test_depth_first();
    test_not_overtaken();
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
