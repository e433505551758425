// Unlock of an RWMutex that is not write-locked is a fatal error, as in Go (from a plain
// thread here: misuse is caught the same way outside goroutines).
// EXPECT_EXIT: 2
// EXPECT_STDERR: fatal error: sync: Unlock of unlocked RWMutex
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

int main(void) {
    gort_rwmutex m = GORT_RWMUTEX_INIT;
    gort_rwmutex_lock(&m);
    gort_rwmutex_unlock(&m);
    gort_rwmutex_unlock(&m);
    CHECK(0 && "unreachable");
    return 0;
}
