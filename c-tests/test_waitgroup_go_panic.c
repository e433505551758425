// An unrecovered panic in gort_waitgroup_go's fn ends the program (panic: MSG, exit 2)
// without calling done, as Go's WaitGroup.Go does: the waiter must not return and let
// main exit 0 before the panic has finished.
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
