// A timer armed by a goroutine whose P went away while it ran C code must still fire.
// gort_gomaxprocs(1) from another thread stops both Ps while two goroutines spin in
// user code (their Ps are taken by CAS) and destroys P1; the goroutine that was on P1
// does not know yet (it finds out at its next scheduler call). Its next timer calls,
// gort_after_func and a blocking receive on gort_after, add heap entries: they must go
// to a live P's heap. Before the fix they went to the dead P's heap, which nobody looks
// at any more: the AfterFunc never ran, the receive never returned, and this test hung
// until its timeout.
// TIMEOUT: 60
// ENV: GORT_MAXPROCS=2
#include "check.h"
#include "gort.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

enum { SPINNERS = 2 };
static const int64_t MS = 1000000;

static atomic_int spinning;
static atomic_int go_on;
static gort_chan *fired_chan;
static gort_waitgroup done;
static gort_timer *timers[SPINNERS];

static void fired(void *arg) {
    int64_t one = (int64_t)(intptr_t)arg;
    CHECK_EQ(gort_chan_send(fired_chan, &one), 0);
}

static void spinner(void *arg) {
    int k = (int)(intptr_t)arg;
    atomic_fetch_add(&spinning, 1);
    // User code, no gort call: this goroutine keeps its P until the world is stopped.
    while (!atomic_load(&go_on)) sched_yield();
    timers[k] = gort_after_func(MS, fired, (void *)(intptr_t)1);
    CHECK(timers[k] != NULL);
    gort_chan *c = gort_after(MS);
    CHECK(c != NULL);
    int64_t v = 0;
    CHECK_EQ(gort_chan_recv(c, &v), 1);
    CHECK(v > 0);
    gort_chan_release(c);
    gort_waitgroup_done(&done);
}

int main(void) {
    fired_chan = gort_chan_make(sizeof(int64_t), SPINNERS);
    CHECK(fired_chan != NULL);
    gort_waitgroup_add(&done, SPINNERS);
    for (int k = 0; k < SPINNERS; k++) CHECK_EQ(gort_go(spinner, (void *)(intptr_t)k), 0);
    // Both spinners run at once, so each holds one of the two Ps.
    while (atomic_load(&spinning) < SPINNERS) sched_yield();
    CHECK_EQ(gort_gomaxprocs(1), 2);
    atomic_store(&go_on, 1);
    for (int k = 0; k < SPINNERS; k++) {
        int64_t v = 0;
        CHECK_EQ(gort_chan_recv(fired_chan, &v), 1);
        CHECK_EQ(v, 1);
    }
    gort_waitgroup_wait(&done);
    for (int k = 0; k < SPINNERS; k++) gort_timer_free(timers[k]);
    gort_chan_release(fired_chan);
    return 0;
}
