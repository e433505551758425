// Unlocking an unlocked mutex is a fatal error, as in Go (not a recoverable panic: the
// protect around it does not catch it).
// EXPECT_EXIT: 2
// EXPECT_STDERR: fatal error: sync: unlock of unlocked mutex
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

static void unlock_twice(void *arg) {
    gort_mutex *m = arg;
    gort_mutex_lock(m);
    gort_mutex_unlock(m);
    gort_mutex_unlock(m);
}

static int main_goroutine(void *arg) {
    (void)arg;
    gort_mutex m = GORT_MUTEX_INIT;
    const char *msg = NULL;
    gort_protect(unlock_twice, &m, &msg);
    CHECK(0 && "unreachable: the unlock was fatal");
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
