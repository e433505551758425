// Under gort_main, when every goroutine is blocked for good (here the main goroutine
// sleeps forever and the only other goroutine has finished), the program dies like Go:
// "fatal error: all goroutines are asleep - deadlock!", a goroutine dump, exit status 2.
// EXPECT_EXIT: 2
// EXPECT_STDERR: fatal error: all goroutines are asleep - deadlock!
// EXPECT_STDERR: goroutine 1 \[sleep \(forever\)\]:
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

static void short_lived(void *arg) {
    (void)arg;
    gort_sleep(1000000);
}

static int main_goroutine(void *arg) {
    (void)arg;
    gort_go(short_lived, NULL);
    gort_sleep_until(GORT_FOREVER);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
