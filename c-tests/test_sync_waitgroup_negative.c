// An unrecovered negative WaitGroup counter is a Go panic: message, goroutine header,
// exit status 2.
// EXPECT_EXIT: 2
// EXPECT_STDERR: panic: sync: negative WaitGroup counter
// EXPECT_STDERR: goroutine [0-9]+ \[running\]
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

static int main_goroutine(void *arg) {
    (void)arg;
    gort_waitgroup wg = GORT_WAITGROUP_INIT;
    gort_waitgroup_add(&wg, 2);
    gort_waitgroup_add(&wg, -3);
    CHECK(0 && "unreachable");
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
