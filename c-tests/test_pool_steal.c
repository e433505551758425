/* sync.Pool stealing across Ps (GORT_MAXPROCS=2): the main goroutine puts 100 objects
 * and then spins in C, keeping its P; a goroutine it starts runs on the other P and gets
 * them all but the one in the main P's private slot (which only that P's owner takes),
 * stealing the oldest first from the main P's chain. If sysmon hands the main P to
 * another thread meanwhile (it spins past 10 ms), the goroutine may run on that P and get
 * the private one too. Then the reverse, many rounds, through a channel: objects put on
 * one P and got on the other are each got exactly once (or handed to free_fn by
 * gort_pool_free, if left in a private slot). */
// ENV: GORT_MAXPROCS=2
// ASAN: yes
// TSAN: yes
// TIMEOUT: 120
#include "check.h"
#include <gort.h>
#include <stdatomic.h>
#include <stdint.h>

enum { N = 100, ROUNDS = 200, PER = 50 };

static char objs[N + ROUNDS * PER];
static gort_pool *pool;
static atomic_int done, got_n;
static int got[N];

static void thief(void *arg) {
    (void)arg;
    for (void *o; (o = gort_pool_get(pool)) != NULL;) {
        int i = (int)((char *)o - objs);
        CHECK(i >= 0 && i < N);
        got[got_n++] = i;
    }
    atomic_store(&done, 1);
}

static gort_chan *to_eater, *back;
static atomic_int seen[ROUNDS * PER];
static atomic_long left;

/* gort_pool_free hands over what is left (an object may sit in the private slot of a P
   this goroutine no longer runs on: only that P's owner gets it). */
static void on_free(void *o, void *ctx) {
    (void)ctx;
    int i = (int)((char *)o - objs) - N;
    if (i < 0) return; /* from the first part */
    CHECK(i < ROUNDS * PER);
    CHECK_EQ(atomic_fetch_add(&seen[i], 1), 0);
    atomic_fetch_add(&left, 1);
}

static void eater(void *arg) {
    (void)arg;
    int r;
    while (gort_chan_recv(to_eater, &r) == 1) {
        /* Round r's objects were put by the other goroutine; take what we can. */
        int n = 0;
        for (void *o; n < PER && (o = gort_pool_get(pool)) != NULL; n++) {
            int i = (int)((char *)o - objs) - N;
            CHECK(i >= 0 && i < ROUNDS * PER);
            CHECK_EQ(atomic_fetch_add(&seen[i], 1), 0);
        }
        CHECK_EQ(gort_chan_send(back, &n), 0);
    }
    int bye = -1;
    CHECK_EQ(gort_chan_send(back, &bye), 0); /* done with the channels */
}

static int run(void *arg) {
    (void)arg;
    pool = gort_pool_new(NULL, on_free, NULL);
    for (int i = 0; i < N; i++) gort_pool_put(pool, &objs[i]);
    CHECK_EQ(gort_go(thief, NULL), 0);
    while (!atomic_load(&done)) {
        /* spin in C: this goroutine keeps its P */
    }
    CHECK(got_n == N - 1 || got_n == N);
    if (got_n == N - 1) {
        CHECK_EQ(got[0], 1); /* the oldest of the chain first: 0 is in the private slot */
        /* Ours, unless sysmon took our P while we spun and we came back on the other. */
        void *last = gort_pool_get(pool);
        CHECK(last == &objs[0] || last == NULL);
    }
    CHECK(gort_pool_get(pool) == NULL);

    /* Puts here, gets in another goroutine, many rounds: nothing got twice, and every
       object got or still in the pool at the end. */
    to_eater = gort_chan_make(sizeof(int), 0);
    back = gort_chan_make(sizeof(int), 0);
    CHECK_EQ(gort_go(eater, NULL), 0);
    long total = 0;
    for (int r = 0; r < ROUNDS; r++) {
        for (int j = 0; j < PER; j++) gort_pool_put(pool, &objs[N + r * PER + j]);
        int n;
        CHECK_EQ(gort_chan_send(to_eater, &r), 0);
        CHECK_EQ(gort_chan_recv(back, &n), 1);
        total += n;
    }
    gort_chan_close(to_eater);
    int bye;
    CHECK_EQ(gort_chan_recv(back, &bye), 1);
    CHECK_EQ(bye, -1);
    for (void *o; (o = gort_pool_get(pool)) != NULL;) {
        int i = (int)((char *)o - objs) - N;
        CHECK_EQ(atomic_fetch_add(&seen[i], 1), 0);
        total++;
    }
    gort_chan_release(to_eater);
    gort_chan_release(back);
    gort_pool_free(pool);
    CHECK_EQ(total + atomic_load(&left), ROUNDS * PER);
    for (int i = 0; i < ROUNDS * PER; i++) CHECK_EQ(atomic_load(&seen[i]), 1);
    return 0;
}

int main(void) { return gort_main(run, NULL); }
