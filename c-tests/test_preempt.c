// With a single P, a goroutine spinning in a C loop that never calls gort must not starve
// a sleeping goroutine: sysmon hands the P to another thread after ~10 ms. The test
// finishes only if the sleeper gets to run and sets the flag the spinner waits for.
// ENV: GORT_MAXPROCS=1
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

#include <stdatomic.h>

static atomic_int flag, spinner_done;

static void spinner(void *arg) {
    (void)arg;
    unsigned long spins = 0;
    while (!atomic_load_explicit(&flag, memory_order_relaxed)) spins++; /* no gort calls */
    CHECK(spins > 0);
    atomic_store(&spinner_done, 1);
}

static void sleeper(void *arg) {
    (void)arg;
    gort_sleep(20 * 1000000LL);
    atomic_store(&flag, 1);
}

static int main_goroutine(void *arg) {
    (void)arg;
    CHECK_EQ(gort_gomaxprocs(0), 1);
    gort_go(spinner, NULL);
    gort_go(sleeper, NULL);
    while (!atomic_load(&spinner_done)) gort_sleep(1000000);
    CHECK_EQ(atomic_load(&flag), 1);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
