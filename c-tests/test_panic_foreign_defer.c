// gort_defer on a thread the runtime does not own, outside any gort_protect, has no scope
// to run in: it is a gort panic (uncaught here, so exit 2).
// EXPECT_EXIT: 2
// EXPECT_STDERR: panic: gort_defer outside gort_protect
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

static void nothing(void *arg) { (void)arg; }

int main(void) {
    gort_defer(nothing, NULL);
    return 0;
}
