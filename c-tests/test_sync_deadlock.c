// Locking a mutex twice with nobody to unlock it: like Go, gort_main reports the
// deadlock and names what the goroutine waits on.
// EXPECT_EXIT: 2
// EXPECT_STDERR: fatal error: all goroutines are asleep - deadlock!
// EXPECT_STDERR: goroutine 1 \[sync.Mutex.Lock\]:
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

static int main_goroutine(void *arg) {
    (void)arg;
    gort_mutex m = GORT_MUTEX_INIT;
    gort_mutex_lock(&m);
    gort_mutex_lock(&m);
    CHECK(0 && "unreachable");
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
