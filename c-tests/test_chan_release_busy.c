// Releasing the last reference to a channel while a goroutine is blocked on it is a clear
// fatal error, never a use-after-free.
// EXPECT_EXIT: 2
// EXPECT_STDERR: fatal error: gort_chan_release: channel freed while goroutines are blocked on it
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

static void receiver(void *arg) { gort_chan_recv(arg, NULL); }

static int main_goroutine(void *arg) {
    (void)arg;
    gort_chan *c = gort_chan_make(sizeof(int), 0);
    gort_go(receiver, c);
    gort_sleep(10 * 1000000LL); /* let it block */
    gort_chan_release(c);
    gort_sleep(1000LL * 1000000LL);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
