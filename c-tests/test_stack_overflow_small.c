// The same with a small configured stack (GORT_STACK_SIZE=32k), and a frame larger than a
// page: the 64 KiB guard still catches it.
// ENV: GORT_STACK_SIZE=32k
// EXPECT_EXIT: 2
// EXPECT_STDERR: fatal error: goroutine [0-9]+ stack overflow
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

#include <stdio.h>
#include <string.h>

static volatile int limit = -1; /* never reached: keeps the recursion formally finite */
static int recurse(int depth) {
    volatile char frame[6000];
    memset((char *)frame, depth, sizeof frame);
    if (depth == limit) return 0;
    return recurse(depth + 1) + frame[100];
}

static void overflow(void *arg) {
    (void)arg;
    printf("%d\n", recurse(0));
}

static int main_goroutine(void *arg) {
    (void)arg;
    gort_go(overflow, NULL);
    gort_sleep(60LL * 1000000000LL);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
