// Timers that are freed, released or stopped while pending leave nothing on the timer
// heaps: afterwards a program blocked for good is a deadlock at once, not when the last
// of those hours is up (an entry left on a heap counts as "a timer could still wake
// somebody"). Each timer is put on a heap first by a receive that may block (a past,
// nonzero deadline: it returns at once). Before the fix a released gort_after(1h) kept
// its entry for the hour, and this test ran into its timeout.
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

static int main_goroutine(void *arg) {
    (void)arg;
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
