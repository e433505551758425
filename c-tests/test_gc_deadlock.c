// A deadlock is still reported once the collector has run: its threads (the collector,
// its mark helpers, the scavenger it wakes) are the runtime's own, not host threads that
// might still call in. Before, deadlock detection counted only sysmon and the scavenger,
// so after a first collection every deadlock hung silently.
// EXPECT_EXIT: 2
// EXPECT_STDERR: fatal error: all goroutines are asleep - deadlock!
// EXPECT_STDERR: goroutine 1 \[sleep \(forever\)\]:
// ENV: GORT_MAXPROCS=2
// TIMEOUT: 60
// CONCURRENT: yes
#include "check.h"
#include <gort.h>
#include <stddef.h>

static int main_goroutine(void *arg) {
    (void)arg;
    const gort_type *t = gort_type_new("blob", 64, NULL, 0);
    CHECK(t != NULL);
    for (int i = 0; i < 100000; i++) CHECK(gort_new(t) != NULL);
    gort_gc();
    gort_gc();
    gort_sleep_until(GORT_FOREVER);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
