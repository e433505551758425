// gort_gosched interleaves goroutines on a single P: two goroutines that yield after every
// step alternate strictly, because each yield puts the caller at the back of the queue.
// ENV: GORT_MAXPROCS=1
// VALGRIND: yes
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

#include <stdatomic.h>

enum { STEPS = 1000 };
static char trace[2 * STEPS + 1];
static atomic_int pos, finished;

static void stepper(void *arg) {
    char who = *(const char *)arg;
    for (int i = 0; i < STEPS; i++) {
        trace[atomic_fetch_add(&pos, 1)] = who;
        gort_gosched();
    }
    atomic_fetch_add(&finished, 1);
}

static int main_goroutine(void *arg) {
    (void)arg;
    static const char a = 'a', b = 'b';
    gort_go(stepper, (void *)&a);
    gort_go(stepper, (void *)&b);
    while (atomic_load(&finished) < 2) gort_gosched();
    CHECK_EQ(atomic_load(&pos), 2 * STEPS);
    /* After the first step of each, they strictly alternate. */
    int alternations = 0;
    for (int i = 1; i < 2 * STEPS; i++) alternations += trace[i] != trace[i - 1];
    CHECK(alternations >= 2 * STEPS - 3);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
