// Timers that are freed, released or stopped while pending leave nothing on the timer
// heaps: afterwards a program blocked for good is a deadlock at once, not when the last
// of those hours is up (an entry left on a heap counts as "a timer could still wake
// somebody"). Each timer is put on a heap first by a receive that may block (a past,
// nonzero deadline: it returns at once), some of them on Ps that then go away (their
// entries move to another P's heap). Before the fix a released gort_after(1h) kept its
// entry for the hour, and this test ran into its timeout.
// EXPECT_EXIT: 2
// EXPECT_STDERR: fatal error: all goroutines are asleep - deadlock!
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

#include <stdint.h>

static const int64_t HOUR = 3600LL * 1000000000LL;

static void touch(gort_chan *c) {
    int64_t v;
    CHECK_EQ(gort_chan_recv_until(c, &v, 1), GORT_EAGAIN);
}

static void never(void *arg) {
    (void)arg;
    CHECK(0);
}

/* Timers armed on every P, then the Ps go away (their heaps move to P0's), then the
 * timers are freed: the stale entries must be found on the heap they moved to. */
enum { MOVERS = 16, PER_MOVER = 50 };
static gort_timer *moved[MOVERS][PER_MOVER];
static gort_ticker *moved_tk[MOVERS][PER_MOVER];
static gort_waitgroup movers_wg;

static void mover(void *arg) {
    int k = (int)(intptr_t)arg;
    for (int i = 0; i < PER_MOVER; i++) {
        moved[k][i] = gort_after_func(HOUR, never, NULL);
        moved_tk[k][i] = gort_ticker_new(HOUR);
        touch(gort_ticker_chan(moved_tk[k][i]));
        if (i % 8 == 0) gort_gosched();
    }
    gort_waitgroup_done(&movers_wg);
}

static void timers_on_ps_that_go_away(void) {
    int procs = gort_gomaxprocs(4);
    gort_waitgroup_add(&movers_wg, MOVERS);
    for (int k = 0; k < MOVERS; k++) CHECK_EQ(gort_go(mover, (void *)(intptr_t)k), 0);
    gort_waitgroup_wait(&movers_wg);
    gort_gomaxprocs(1);
    for (int k = 0; k < MOVERS; k++)
        for (int i = 0; i < PER_MOVER; i++) {
            gort_timer_free(moved[k][i]);
            gort_ticker_free(moved_tk[k][i]);
        }
    gort_gomaxprocs(procs);
}

static int main_goroutine(void *arg) {
    (void)arg;
    timers_on_ps_that_go_away();
    for (int i = 0; i < 100; i++) {
        gort_chan *a = gort_after(HOUR);
        touch(a);
        gort_chan_release(a);

        gort_timer *t = gort_timer_new(HOUR);
        touch(gort_timer_chan(t));
        gort_timer_free(t);

        gort_ticker *tk = gort_ticker_new(HOUR);
        touch(gort_ticker_chan(tk));
        gort_ticker_free(tk);

        gort_timer_free(gort_after_func(HOUR, never, NULL));
    }
    /* Kept, but stopped: nothing pending either. */
    gort_ticker *tk = gort_ticker_new(HOUR);
    touch(gort_ticker_chan(tk));
    gort_ticker_stop(tk);
    gort_timer *t = gort_timer_new(HOUR);
    touch(gort_timer_chan(t));
    CHECK_EQ(gort_timer_stop(t), 1);
    gort_timer *f = gort_after_func(HOUR, never, NULL);
    CHECK_EQ(gort_timer_stop(f), 1);

    gort_chan *c = gort_chan_make(0, 0);
    gort_chan_recv(c, NULL); /* nobody will ever send */
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
