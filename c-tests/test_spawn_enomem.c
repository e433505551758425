// gort_go reports GORT_ENOMEM at call time when no stack can be reserved, and the runtime
// keeps working: with the address-space limit (RLIMIT_AS, `ulimit -v`) lowered to a little
// above current use, goroutines are spawned until gort_go says GORT_ENOMEM; the ones
// spawned before still run and finish; with their stacks back, spawning works again
// under the same limit, and after the limit is raised, more than before.
// The limit leaves 96 MiB of room, less than one stack chunk (256 MiB) but enough for
// the runtime's threads and malloc; the threads are started before it is lowered.
// ENV: GORT_MAXPROCS=2
// TIMEOUT: 120
#include "check.h"
#include "gort.h"

#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#define MIB (1024L * 1024L)
enum { MAX_SPAWN = 1000000 };

static atomic_long started, finished;
static gort_chan *gate;

static void parked_until_gate_closes(void *arg) {
    (void)arg;
    atomic_fetch_add(&started, 1);
    CHECK_EQ(gort_chan_recv(gate, NULL), 0);
    atomic_fetch_add(&finished, 1);
}

static void sleep_a_little(void *arg) {
    (void)arg;
    gort_sleep(1000000);
    gort_gosched();
    atomic_fetch_add(&finished, 1);
}

static void wait_for(atomic_long *counter, long n) {
    while (atomic_load(counter) < n) gort_sleep(1000000);
}

/* Spawns parked goroutines until GORT_ENOMEM (or `cap`); returns how many started.
 * With `patient`, GORT_ENOMEM is retried for a while: stacks freed on the other P may
 * sit in its cache until that P gives them up (at its next scheduling round). */
static long spawn_until_enomem(long cap, int patient, int *got_enomem) {
    long n = 0;
    int retries = 0;
    *got_enomem = 0;
    while (n < cap) {
        int r = gort_go(parked_until_gate_closes, NULL);
        if (r == GORT_ENOMEM && patient && retries++ < 1000) {
            gort_sleep(10000000);
            continue;
        }
        if (r == GORT_ENOMEM) {
            *got_enomem = 1;
            break;
        }
        CHECK_EQ(r, 0);
        n++;
    }
    return n;
}

static int main_goroutine(void *arg) {
    (void)arg;
    /* Warm up: every P busy, timers, a few Ms started, caches filled. */
    for (int i = 0; i < 2000; i++) CHECK_EQ(gort_go(sleep_a_little, NULL), 0);
    wait_for(&finished, 2000);

    struct rlimit old;
    CHECK_EQ(getrlimit(RLIMIT_AS, &old), 0);
    struct rlimit low = {.rlim_cur = (rlim_t)(statm_bytes(0) + 96 * MIB), .rlim_max = old.rlim_max};
    CHECK(old.rlim_cur == RLIM_INFINITY || old.rlim_cur > low.rlim_cur);
    CHECK_EQ(setrlimit(RLIMIT_AS, &low), 0);
    /* qemu-user accepts RLIMIT_AS and does not apply it: nothing to test there. */
    void *probe = mmap(NULL, 512 * MIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (probe != MAP_FAILED) {
        munmap(probe, 512 * MIB);
        CHECK_EQ(setrlimit(RLIMIT_AS, &old), 0);
        fprintf(stderr, "RLIMIT_AS is not enforced here: skipped\n");
        return 0;
    }

    gate = gort_chan_make(0, 0);
    CHECK(gate != NULL);
    atomic_store(&started, 0);
    atomic_store(&finished, 0);
    int enomem = 0;
    long n = spawn_until_enomem(MAX_SPAWN, 0, &enomem);
    fprintf(stderr, "GORT_ENOMEM after %ld goroutines\n", n);
    CHECK(enomem);
    CHECK(n > 0);
    /* The ones spawned before run, and end when the gate closes. */
    wait_for(&started, n);
    CHECK(gort_num_goroutine() >= n + 1);
    gort_chan_close(gate);
    wait_for(&finished, n);
    gort_chan_release(gate);

    /* Under the same limit, their stacks serve new goroutines. */
    gate = gort_chan_make(0, 0);
    CHECK(gate != NULL);
    atomic_store(&started, 0);
    atomic_store(&finished, 0);
    long again = spawn_until_enomem(n, 1, &enomem);
    CHECK_EQ(again, n);
    wait_for(&started, n);
    gort_chan_close(gate);
    wait_for(&finished, n);
    gort_chan_release(gate);

    /* Limit raised: more than before. */
    CHECK_EQ(setrlimit(RLIMIT_AS, &old), 0);
    gate = gort_chan_make(0, 0);
    CHECK(gate != NULL);
    atomic_store(&started, 0);
    atomic_store(&finished, 0);
    long more = spawn_until_enomem(2 * n + 1000, 0, &enomem);
    CHECK(!enomem);
    CHECK_EQ(more, 2 * n + 1000);
    wait_for(&started, more);
    gort_chan_close(gate);
    wait_for(&finished, more);
    gort_chan_release(gate);
    /* Every goroutine ends (they may still be on their way out of the last call). */
    for (int i = 0; i < 10000 && gort_num_goroutine() > 1; i++) gort_sleep(1000000);
    CHECK_EQ(gort_num_goroutine(), 1);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
