// A gort call that blocks (here a channel receive) inside gort_blocking_enter/exit is a
// fatal error that names the mistake, instead of losing the region's bookkeeping and
// failing later at gort_blocking_exit with a misleading message.
// EXPECT_EXIT: 2
// EXPECT_STDERR: fatal error: goroutine blocked in gort \(chan receive\) inside a blocking region
// EXPECT_STDERR: main_goroutine\(\.\.\.\)
#include "check.h"
#include "gort.h"

static int main_goroutine(void *arg) {
    (void)arg;
    /* Nobody sends: the receive must wait (a ready sender would make it not block, and
     * then there would be no mistake to report). */
    gort_chan *c = gort_chan_make(sizeof(int), 0);
    gort_blocking_enter();
    int v;
    gort_chan_recv(c, &v); /* the mistake */
    gort_blocking_exit();
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
