// A panic with no gort_protect: the goroutine's deferred calls run, then the process
// prints "panic: MSG" and "goroutine N [running]:" and exits 2, like Go.
// EXPECT_EXIT: 2
// EXPECT_STDERR: deferred call ran
// EXPECT_STDERR: panic: boom
// EXPECT_STDERR: goroutine [0-9]+ \[running\]:
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

#include <stdio.h>

static void announce(void *arg) {
    (void)arg;
    fprintf(stderr, "deferred call ran\n");
}

static void doomed(void *arg) {
    (void)arg;
    gort_defer(announce, NULL);
    gort_panic("boom");
}

static int main_goroutine(void *arg) {
    (void)arg;
    gort_go(doomed, NULL);
    gort_sleep(60LL * 1000000000LL);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
