// An unrecovered panic in gort_waitgroup_go's fn ends the program (panic: MSG, exit 2),
// not the wait. Go's WaitGroup.Go also skips the done then, so that the waiter cannot
// return and let main exit 0 first; the window is too short to see from here, so the
// skip itself is checked by the Rust test ffi::sync::tests::group_job_done_skips_only_a_panic.
// EXPECT_EXIT: 2
// EXPECT_STDERR: panic: boom in fn
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

#include <unistd.h>

static void boom(void *arg) {
    (void)arg;
    usleep(20000); /* the main goroutine is waiting by now (not required, only likelier) */
    gort_panic("boom in fn");
}

static int main_goroutine(void *arg) {
    (void)arg;
    gort_waitgroup wg = GORT_WAITGROUP_INIT;
    CHECK_EQ(gort_waitgroup_go(&wg, boom, NULL), 0);
    gort_waitgroup_wait(&wg);
    fprintf(stderr, "wait returned: done ran although fn panicked\n");
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
