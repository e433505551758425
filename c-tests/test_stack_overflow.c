// Unbounded recursion in a goroutine hits the guard region below its stack: the process
// prints Go's message and exits 2 instead of corrupting memory.
// EXPECT_EXIT: 2
// EXPECT_STDERR: fatal error: goroutine [0-9]+ stack overflow
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

#include <stdio.h>

static volatile int limit = -1; /* never reached: keeps the recursion formally finite */
static int recurse(int depth) {
    volatile char frame[512];
    frame[0] = (char)depth;
    if (depth == limit) return 0;
    /* The addition after the call keeps it from being a tail call. */
    return recurse(depth + 1) + frame[0];
}

static void overflow(void *arg) {
    (void)arg;
    printf("%d\n", recurse(0));
}

static int main_goroutine(void *arg) {
    (void)arg;
    gort_go(overflow, NULL);
    gort_sleep(60LL * 1000000000LL);
    return 0; /* not reached: the overflow ends the process */
}

int main(void) { return gort_main(main_goroutine, NULL); }
