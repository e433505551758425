// RUnlock of an RWMutex that is not read-locked is a fatal error, as in Go.
// EXPECT_EXIT: 2
// EXPECT_STDERR: fatal error: sync: RUnlock of unlocked RWMutex
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

static int main_goroutine(void *arg) {
    (void)arg;
    gort_rwmutex m = GORT_RWMUTEX_INIT;
    gort_rwmutex_rlock(&m);
    gort_rwmutex_runlock(&m);
    gort_rwmutex_runlock(&m);
    CHECK(0 && "unreachable");
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
