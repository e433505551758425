// Go's TestAfterFuncStarvation (time/sleep_test.go), ported: with one P, two goroutines
// keep a one-slot channel busy (at any moment one of them is runnable, and each wakes the
// other straight into `runnext`), and an after_func callback one microsecond away must
// still get to run and stop them. Before the scheduler ended a time slice at a hand-off,
// the callback's goroutine waited in the local queue behind the pair until the idle
// timer-waiter thread happened to fire the busy P's timer itself (into the global queue):
// 0.2-0.6 s a round, so the test needed 40-120 s and failed on its timeout; with the fix
// a round takes one slice, ~25 ms.
// ENV: GORT_MAXPROCS=1
// VALGRIND: yes
// TIMEOUT: 25
#include "check.h"
#include "gort.h"

#include <stdatomic.h>
#include <stdbool.h>

enum { ROUNDS = 200 };

static atomic_bool stop;
static gort_chan *c;
static gort_waitgroup wg;
static long long received;

static void sender(void *arg) {
    (void)arg;
    bool v = true;
    while (!atomic_load(&stop)) CHECK_EQ(gort_chan_send(c, &v), 0);
    CHECK_EQ(gort_chan_close(c), 0);
    gort_waitgroup_done(&wg);
}

static void receiver(void *arg) {
    (void)arg;
    bool v;
    while (gort_chan_recv(c, &v) == 1) received++;
    gort_waitgroup_done(&wg);
}

static void set_stop(void *arg) {
    (void)arg;
    atomic_store(&stop, true);
}

static int main_goroutine(void *arg) {
    (void)arg;
    CHECK_EQ(gort_gomaxprocs(0), 1);
    /* Go runs the test many times: every round must end. */
    for (int round = 0; round < ROUNDS; round++) {
        atomic_store(&stop, false);
        c = gort_chan_make(sizeof(bool), 1);
        CHECK(c != NULL);
        gort_waitgroup_add(&wg, 2);
        CHECK_EQ(gort_go(sender, NULL), 0);
        CHECK_EQ(gort_go(receiver, NULL), 0);
        gort_timer *t = gort_after_func(1000, set_stop, NULL);
        CHECK(t != NULL);
        gort_waitgroup_wait(&wg);
        CHECK(atomic_load(&stop));
        gort_timer_free(t);
        gort_chan_release(c);
    }
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
