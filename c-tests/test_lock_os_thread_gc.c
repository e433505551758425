/* A goroutine locked to its thread that waits for the collector (allocating past the
 * memory limit) rejoins through its own M: the P it gets is handed to that sleeping M by
 * another one. Until the locked M has woken, it counts as running: deadlock detection used
 * to see every M idle for that moment, with the goroutine in no queue, and reported
 * "all goroutines are asleep" on a loaded machine (about 1 round in 30 before the fix). */
// ENV: GORT_MEMLIMIT=64MiB
// ENV: GORT_MAXPROCS=2
// TIMEOUT: 300
// CONCURRENT: yes
#include "check.h"
#include <errno.h>
#include <gort.h>
#include <string.h>

enum { ROUNDS = 20 };

static void *live[256];

static int body(void *arg) {
    (void)arg;
    gort_lock_os_thread();
    CHECK_EQ(gort_root_add(live, sizeof live), 0);
    for (int round = 0; round < ROUNDS; round++) {
        /* Garbage, collected as it goes. */
        for (int i = 0; i < 100; i++) CHECK(gort_alloc_noscan(1 << 20) != NULL);
        /* Live data up to the limit: the last allocations wait for a collection, then fail. */
        int got = 0;
        for (; got < 256; got++) {
            live[got] = gort_alloc_noscan(1 << 20);
            if (live[got] == NULL) break;
        }
        CHECK(got >= 40 && got < 80);
        memset(live, 0, sizeof live);
    }
    CHECK_EQ(gort_root_remove(live), 0);
    gort_unlock_os_thread();
    return 0;
}

int main(void) { return gort_main(body, NULL); }
