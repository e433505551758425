// Receiving from a NULL channel blocks forever, like a nil channel in Go: with nothing
// else to run, gort_main reports the deadlock.
// EXPECT_EXIT: 2
// EXPECT_STDERR: fatal error: all goroutines are asleep - deadlock!
// EXPECT_STDERR: goroutine 1 \[chan receive \(nil chan\)\]:
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

static int main_goroutine(void *arg) {
    (void)arg;
    gort_chan_recv(NULL, NULL);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
