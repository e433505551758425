// WaitGroup waiter slot (src/sync/waitgroup.rs): one goroutine waiting parks in the
// WaitGroup itself, further waiters and foreign threads use the semaphore table. Across
// all Ps, each phase with an exact check:
//   1. Tight races: Add(1), a goroutine or a foreign thread calls Done, Wait — over and
//      over on one reused WaitGroup, so Done often lands while Wait is publishing itself.
//   2. Mixed waiters: one WaitGroup, several goroutine waiters (the first takes the slot,
//      the others the table) and foreign-thread waiters, released by Done calls from
//      goroutines and foreign threads; every waiter must return, every round; reused.
//   3. A fork/join tree where every node waits on its own WaitGroup on its stack (the
//      WaitGroup is gone as soon as Wait returns), with foreign threads calling Done on
//      some nodes' WaitGroups.
//   4. Misuse stays a panic: a negative counter, caught with gort_protect.
// ENV: GORT_MAXPROCS=4
// ASAN: yes
// TIMEOUT: 300
#include "check.h"
#include "gort.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

/* --- 1. tight races ------------------------------------------------------------------------ */
enum { RACE_ROUNDS = 20000 };
static gort_waitgroup race_wg;
static atomic_int race_done;
static void race_doner(void *arg) {
    (void)arg;
    atomic_fetch_add(&race_done, 1);
    gort_waitgroup_done(&race_wg);
}
static void *race_thread_doner(void *arg) {
    race_doner(arg);
    return NULL;
}
static void check_races(void) {
    for (int i = 0; i < RACE_ROUNDS; i++) {
        gort_waitgroup_add(&race_wg, 1);
        pthread_t t;
        int thread = i % 16 == 0;
        if (thread) CHECK_EQ(pthread_create(&t, NULL, race_thread_doner, NULL), 0);
        else CHECK_EQ(gort_go(race_doner, NULL), 0);
        if (i % 3 == 0) gort_gosched(); /* sometimes Done first, then Wait finds zero */
        gort_waitgroup_wait(&race_wg);
        CHECK_EQ(atomic_load(&race_done), i + 1);
        if (thread) CHECK_EQ(pthread_join(t, NULL), 0);
    }
}

/* --- 2. mixed waiters ------------------------------------------------------------------------ */
enum { MIX_ROUNDS = 300, MIX_GWAITERS = 6, MIX_TWAITERS = 2, MIX_DONERS = 8 };
static gort_waitgroup mix_wg;      /* the one under test */
static gort_waitgroup mix_back;    /* counts waiters that returned */
static atomic_int mix_released;    /* Done calls made this round */
static atomic_int mix_round;
static void mix_gwaiter(void *arg) {
    (void)arg;
    gort_waitgroup_wait(&mix_wg);
    CHECK_EQ(atomic_load(&mix_released), MIX_DONERS); /* never early */
    gort_waitgroup_done(&mix_back);
}
static void *mix_twaiter(void *arg) {
    mix_gwaiter(arg);
    return NULL;
}
static void mix_doner(void *arg) {
    (void)arg;
    if (atomic_load(&mix_round) % 2) gort_gosched();
    atomic_fetch_add(&mix_released, 1);
    gort_waitgroup_done(&mix_wg);
}
static void *mix_thread_doner(void *arg) {
    mix_doner(arg);
    return NULL;
}
static void check_mixed(void) {
    for (int r = 0; r < MIX_ROUNDS; r++) {
        atomic_store(&mix_round, r);
        atomic_store(&mix_released, 0);
        gort_waitgroup_add(&mix_wg, MIX_DONERS);
        gort_waitgroup_add(&mix_back, MIX_GWAITERS + MIX_TWAITERS);
        pthread_t tw[MIX_TWAITERS], td[2];
        for (int i = 0; i < MIX_GWAITERS; i++) CHECK_EQ(gort_go(mix_gwaiter, NULL), 0);
        for (int i = 0; i < MIX_TWAITERS; i++) CHECK_EQ(pthread_create(&tw[i], NULL, mix_twaiter, NULL), 0);
        if (r % 2) gort_gosched(); /* let some waiters park before the doners start */
        for (int i = 0; i < MIX_DONERS - 2; i++) CHECK_EQ(gort_go(mix_doner, NULL), 0);
        for (int i = 0; i < 2; i++) CHECK_EQ(pthread_create(&td[i], NULL, mix_thread_doner, NULL), 0);
        gort_waitgroup_wait(&mix_back);
        for (int i = 0; i < MIX_TWAITERS; i++) CHECK_EQ(pthread_join(tw[i], NULL), 0);
        for (int i = 0; i < 2; i++) CHECK_EQ(pthread_join(td[i], NULL), 0);
    }
}

/* --- 3. fork/join tree with foreign Done calls ---------------------------------------------- */
typedef struct node { long long lo, hi, *out; gort_waitgroup *parent; } node;
static void *thread_done(void *arg) {
    gort_waitgroup_done(arg);
    return NULL;
}
static void tree(void *arg) {
    node *n = arg;
    if (n->hi - n->lo <= 1) {
        *n->out = n->lo;
    } else {
        long long mid = n->lo + (n->hi - n->lo) / 2, left = 0, right = 0;
        gort_waitgroup wg = GORT_WAITGROUP_INIT;
        node a = {n->lo, mid, &left, &wg}, b = {mid, n->hi, &right, &wg};
        int foreign = n->lo % 997 == 0 && n->hi - n->lo < 64; /* a few nodes: an extra count */
        pthread_t t;
        gort_waitgroup_add(&wg, foreign ? 3 : 2);
        if (foreign) CHECK_EQ(pthread_create(&t, NULL, thread_done, &wg), 0);
        gort_go(tree, &a);
        gort_go(tree, &b);
        gort_waitgroup_wait(&wg);
        if (foreign) CHECK_EQ(pthread_join(t, NULL), 0);
        *n->out = left + right;
    }
    if (n->parent) gort_waitgroup_done(n->parent);
}

/* --- 4. misuse ------------------------------------------------------------------------------ */
static void negative(void *arg) {
    gort_waitgroup_add(arg, 1);
    gort_waitgroup_add(arg, -2);
}

static int main_goroutine(void *arg) {
    (void)arg;
    fprintf(stderr, "phase 1\n");
    check_races();
    fprintf(stderr, "phase 2\n");
    check_mixed();
    fprintf(stderr, "phase 3\n");
    for (int round = 0; round < 3; round++) {
        long long sum = -1;
        node root = {0, 50000, &sum, NULL};
        tree(&root);
        CHECK_EQ(sum, 50000LL * 49999 / 2);
    }
    gort_waitgroup wg = GORT_WAITGROUP_INIT;
    const char *msg = NULL;
    CHECK_EQ(gort_protect(negative, &wg, &msg), 1);
    CHECK(msg && strcmp(msg, "sync: negative WaitGroup counter") == 0);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
