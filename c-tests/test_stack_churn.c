// Stacks cycle through every state while the scavenger works: waves of goroutines on all
// Ps use their stacks, end, and sit idle long enough (a scavenger round is half a
// second) for their stacks to be released and, in later waves, reused (zero-filled
// pages), while the number of Ps changes (Ps going away hand their cached stacks and
// reservations back). Every goroutine sees its own stack data intact, and all of them
// run. No timing assertion: the pauses only give the scavenger a chance.
// ENV: GORT_MAXPROCS=4
// ASAN: yes
// TIMEOUT: 180
#include "check.h"
#include "gort.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

enum { WAVES = 12, PER_WAVE = 3000 };

static atomic_long finished;
static gort_waitgroup wg;

/* Recurses a few frames deep with a buffer per frame, yielding in the middle, and
 * checks that nothing else wrote to its frames. */
static long deep(int depth, long seed) {
    unsigned char buf[1536];
    memset(buf, (int)(seed & 0xff), sizeof buf);
    long sum = 0;
    if (depth > 0) sum = deep(depth - 1, seed * 31 + depth);
    else gort_gosched();
    for (size_t i = 0; i < sizeof buf; i += 97) CHECK_EQ(buf[i], (unsigned char)(seed & 0xff));
    return sum + buf[0];
}

static void worker(void *arg) {
    long id = (long)(intptr_t)arg;
    deep((int)(id % 6), id);
    atomic_fetch_add(&finished, 1);
    gort_waitgroup_done(&wg);
}

static int main_goroutine(void *arg) {
    (void)arg;
    static const int procs[] = {4, 1, 3, 2};
    long spawned = 0;
    for (int w = 0; w < WAVES; w++) {
        gort_gomaxprocs(procs[w % 4]);
        gort_waitgroup_add(&wg, PER_WAVE);
        for (int i = 0; i < PER_WAVE; i++) CHECK_EQ(gort_go(worker, (void *)(intptr_t)spawned++), 0);
        gort_waitgroup_wait(&wg);
        if (w % 3 == 2) gort_sleep(1200 * 1000000LL); /* long enough for a release round */
    }
    CHECK_EQ(atomic_load(&finished), spawned);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
