// Sleepers wake in deadline order, whatever order they started in. The deadlines are 10 ms
// apart, far more than scheduling noise on an unloaded machine; the test runs alone
// (SERIAL) and not under valgrind, because a thread held off the CPU by the OS delays the
// timers of the P it holds. The heap's ordering itself is checked deterministically by the
// Rust unit tests.
// SERIAL: yes
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

#include <stdatomic.h>
#include <stdint.h>

#define MS 1000000LL

enum { ORDERED = 20 };
static int wake_order[ORDERED];
static atomic_int next_slot;
static gort_waitgroup sleepers;

static void ordered_sleeper(void *arg) {
    int i = (int)(intptr_t)arg;
    gort_sleep((i + 1) * 10 * MS);
    wake_order[atomic_fetch_add(&next_slot, 1)] = i;
    gort_waitgroup_done(&sleepers); /* the write above happens before the check below */
}

static int main_goroutine(void *arg) {
    (void)arg;
    gort_waitgroup_add(&sleepers, ORDERED);
    for (int i = ORDERED - 1; i >= 0; i--) gort_go(ordered_sleeper, (void *)(intptr_t)i);
    gort_waitgroup_wait(&sleepers);
    for (int i = 0; i < ORDERED; i++) CHECK_EQ(wake_order[i], i);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
