// Goroutine pairs that wake each other straight into `runnext` (a channel ping-pong, a
// mutex + condition variable turn-taking) must not monopolise their P: a sleeper, a
// select deadline and a goroutine queued before the pairs started all make progress. Run
// at 1 P with one pair and at 2 Ps with a pair per P. Before the scheduler ended a time
// slice at hand-offs, what timers readied and what was queued before waited behind the
// pair: a 1-P scenario moved on only when the idle timer-waiter thread happened to fire
// the busy P's timers into the global queue (~0.5 s per sleep), and the test took ~80 s
// (its timeout is 45 s; it needs ~10 s with the fix). The 2-P scenarios often passed
// anyway: where the pairs land is up to stealing.
// ENV: GORT_MAXPROCS=2
// VALGRIND: yes
// TIMEOUT: 45
#include "check.h"
#include "gort.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define MS 1000000LL

enum { MAX_PAIRS = 2, SLEEPS = 50 };

/* A channel pair. */
typedef struct {
    gort_chan *ping, *pong;
} chan_pair;

/* A mutex + condition variable pair: `turn` says whose move it is. */
typedef struct {
    gort_mutex mu;
    gort_cond cv;
    int turn;
    int stop; /* under mu */
} cond_pair;

static atomic_int stop_chan_pairs;
static chan_pair chan_pairs[MAX_PAIRS];
static cond_pair cond_pairs[MAX_PAIRS];
static gort_waitgroup pairs_done, progress;
static atomic_int queued_ran;
static atomic_long hand_offs;

static void pinger(void *arg) {
    chan_pair *p = arg;
    long long v = 0;
    while (!atomic_load(&stop_chan_pairs)) {
        CHECK_EQ(gort_chan_send(p->ping, &v), 0);
        CHECK_EQ(gort_chan_recv(p->pong, &v), 1);
        atomic_fetch_add(&hand_offs, 1);
    }
    CHECK_EQ(gort_chan_close(p->ping), 0);
    gort_waitgroup_done(&pairs_done);
}

static void ponger(void *arg) {
    chan_pair *p = arg;
    long long v;
    while (gort_chan_recv(p->ping, &v) == 1) {
        v++;
        CHECK_EQ(gort_chan_send(p->pong, &v), 0);
    }
    gort_waitgroup_done(&pairs_done);
}

typedef struct {
    cond_pair *pair;
    int me;
} cond_player_arg;

static cond_player_arg cond_args[MAX_PAIRS][2];

static void cond_player(void *arg) {
    cond_player_arg *a = arg;
    cond_pair *p = a->pair;
    gort_mutex_lock(&p->mu);
    while (!p->stop) {
        while (p->turn != a->me && !p->stop) gort_cond_wait(&p->cv, &p->mu);
        p->turn = 1 - a->me;
        atomic_fetch_add(&hand_offs, 1);
        gort_cond_signal(&p->cv);
    }
    gort_mutex_unlock(&p->mu);
    gort_waitgroup_done(&pairs_done);
}

static void queued(void *arg) {
    (void)arg;
    atomic_store(&queued_ran, 1);
    gort_waitgroup_done(&progress);
}

static void sleeper(void *arg) {
    (void)arg;
    for (int i = 0; i < SLEEPS; i++) {
        int64_t t0 = gort_now();
        gort_sleep(1 * MS);
        CHECK(gort_now() - t0 >= 1 * MS);
    }
    gort_waitgroup_done(&progress);
}

static void selector(void *arg) {
    (void)arg;
    gort_chan *never = gort_chan_make(sizeof(int), 0);
    CHECK(never != NULL);
    for (int timeouts = 0; timeouts < SLEEPS;) {
        int v;
        gort_case cs[1] = {{.chan = never, .dir = GORT_RECV, .elem = &v}};
        int r = gort_select(cs, 1, gort_deadline_in(2 * MS));
        /* GORT_EAGAIN: the deadline passed before the select began (a slow machine, or
         * valgrind); only a timeout while waiting shows the deadline timer firing. */
        CHECK(r == GORT_ETIMEDOUT || r == GORT_EAGAIN);
        timeouts += r == GORT_ETIMEDOUT;
    }
    gort_chan_release(never);
    gort_waitgroup_done(&progress);
}

static void scenario(const char *kind, int procs) {
    fprintf(stderr, "%s pairs, %d P\n", kind, procs);
    gort_gomaxprocs(procs);
    int npairs = procs; /* a pair for every P */
    atomic_store(&stop_chan_pairs, 0);
    atomic_store(&queued_ran, 0);
    atomic_store(&hand_offs, 0);
    gort_waitgroup_add(&progress, 3);
    gort_waitgroup_add(&pairs_done, 2 * npairs);
    /* Queued before the pairs start: nothing runs until this goroutine blocks. */
    CHECK_EQ(gort_go(queued, NULL), 0);
    for (int i = 0; i < npairs; i++) {
        if (kind[0] == 'c' && kind[1] == 'h') {
            chan_pairs[i].ping = gort_chan_make(sizeof(long long), 0);
            chan_pairs[i].pong = gort_chan_make(sizeof(long long), 0);
            CHECK(chan_pairs[i].ping != NULL && chan_pairs[i].pong != NULL);
            CHECK_EQ(gort_go(pinger, &chan_pairs[i]), 0);
            CHECK_EQ(gort_go(ponger, &chan_pairs[i]), 0);
        } else {
            cond_pairs[i] = (cond_pair){0};
            for (int me = 0; me < 2; me++) {
                cond_args[i][me] = (cond_player_arg){&cond_pairs[i], me};
                CHECK_EQ(gort_go(cond_player, &cond_args[i][me]), 0);
            }
        }
    }
    CHECK_EQ(gort_go(sleeper, NULL), 0);
    CHECK_EQ(gort_go(selector, NULL), 0);
    gort_waitgroup_wait(&progress);
    CHECK(atomic_load(&queued_ran));
    /* Stop the pairs. */
    if (kind[0] == 'c' && kind[1] == 'h') {
        atomic_store(&stop_chan_pairs, 1);
    } else {
        for (int i = 0; i < npairs; i++) {
            gort_mutex_lock(&cond_pairs[i].mu);
            cond_pairs[i].stop = 1;
            gort_cond_broadcast(&cond_pairs[i].cv);
            gort_mutex_unlock(&cond_pairs[i].mu);
        }
    }
    gort_waitgroup_wait(&pairs_done);
    CHECK(atomic_load(&hand_offs) > 0);
    if (kind[0] == 'c' && kind[1] == 'h') {
        for (int i = 0; i < npairs; i++) {
            gort_chan_release(chan_pairs[i].ping);
            gort_chan_release(chan_pairs[i].pong);
        }
    }
}

/* By hand, `test_starve_pairs chan 2` runs that scenario alone. */
static const char *only_kind;
static int only_procs;

static int main_goroutine(void *arg) {
    (void)arg;
    if (only_kind) {
        scenario(only_kind, only_procs);
        return 0;
    }
    for (int round = 0; round < 2; round++) {
        scenario("chan", 1);
        scenario("cond", 1);
        scenario("chan", 2);
        scenario("cond", 2);
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3) {
        only_kind = argv[1];
        only_procs = atoi(argv[2]);
    }
    return gort_main(main_goroutine, NULL);
}
