// GORT_DEBUG=schedtrace=MS prints a scheduler summary line every MS milliseconds.
// ENV: GORT_DEBUG=schedtrace=10
// EXPECT_STDERR: SCHED [0-9]+ms: gomaxprocs=[0-9]+ idleprocs=[0-9]+ threads=[0-9]+ spinningthreads=[0-9]+ idlethreads=[0-9]+ runqueue=[0-9]+ \[
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

static int main_goroutine(void *arg) {
    (void)arg;
    gort_sleep(60 * 1000000LL);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
