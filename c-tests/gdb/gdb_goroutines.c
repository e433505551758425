/*
 * gdb_goroutines.c: the program run_gdb_test.sh drives under gdb to test gort's gdb
 * extension (tools/gdb/gort-gdb.py: `info goroutines`, `goroutine N bt`). It is not a
 * test_*.c: on its own it only parks goroutines and exits 0.
 *
 * Under gort_main (goroutine 1) it spawns NWORKERS goroutines (ids 2 .. NWORKERS + 1, in
 * order) that park in gort_chan_recv called from parked_worker, then NSLEEPERS (the next
 * ids) that park in gort_sleep, waits until they are all parked, calls
 * gdb_breakpoint_here() (where gdb stops and looks), then closes the channel, waits for the
 * workers to return and exits 0 (the sleepers are still asleep: gort_main returning ends
 * the process regardless).
 */
#include "check.h"
#include "gort.h"

#include <stdatomic.h>
#include <stdint.h>

#define NWORKERS 100
#define NSLEEPERS 3
#define MS 1000000LL

static gort_chan *work;                        /* unbuffered; nobody sends, closed at the end */
static gort_waitgroup started = GORT_WAITGROUP_INIT;
static gort_waitgroup finished = GORT_WAITGROUP_INIT;
static atomic_int received;

/* Where gdb stops: every goroutine but main is parked by now. Global and not inlined, so
 * `break gdb_breakpoint_here` finds it; the empty asm keeps the call from being dropped. */
void gdb_breakpoint_here(void);
__attribute__((noinline)) void gdb_breakpoint_here(void) {
    __asm__ volatile("" ::: "memory");
}

/* Parks in gort_chan_recv until the channel is closed. The result is used after the call,
 * so the call stays a call (not a tail jump) and this frame is on the parked stack. */
__attribute__((noinline)) static void parked_worker(void *arg) {
    (void)arg;
    gort_waitgroup_done(&started);
    int64_t v = 0;
    int r = gort_chan_recv(work, &v);
    atomic_fetch_add(&received, r);
    gort_waitgroup_done(&finished);
}

__attribute__((noinline)) static void sleeper(void *arg) {
    (void)arg;
    gort_waitgroup_done(&started);
    gort_sleep(3600 * 1000 * MS); /* an hour: still asleep when the program exits */
}

static int main_goroutine(void *arg) {
    (void)arg;
    CHECK_EQ(gort_goid(), 1);
    work = gort_chan_make(sizeof(int64_t), 0);
    CHECK(work != NULL);
    gort_waitgroup_add(&started, NWORKERS + NSLEEPERS);
    gort_waitgroup_add(&finished, NWORKERS);
    for (int i = 0; i < NWORKERS; i++) CHECK_EQ(gort_go(parked_worker, NULL), 0);
    for (int i = 0; i < NSLEEPERS; i++) CHECK_EQ(gort_go(sleeper, NULL), 0);
    gort_waitgroup_wait(&started);
    /* Each one signalled just before parking; give the last few time to finish parking. */
    gort_sleep(200 * MS);

    gdb_breakpoint_here();

    CHECK_EQ(gort_chan_close(work), 0);
    gort_waitgroup_wait(&finished);
    CHECK_EQ(atomic_load(&received), 0); /* every receive saw the close, none a value */
    gort_chan_release(work);
    return 0;
}

int main(void) {
    CHECK_EQ(gort_main(main_goroutine, NULL), 0);
    return 0;
}
