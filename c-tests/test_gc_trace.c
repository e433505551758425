/* GORT_DEBUG=gctrace=1 prints one line per collection like Go's; an unknown GORT_DEBUG
 * key is warned about, naming the known ones. */
// ENV: GORT_DEBUG=gctrace=1,nosuchkey=1
// EXPECT_STDERR: gort: warning: unknown GORT_DEBUG key "nosuchkey" \(known: [a-z, ]*gctrace
// EXPECT_STDERR: gc 1 @[0-9.]+s [0-9]+%: [0-9.]+\+[0-9.]+\+[0-9.]+ ms clock, [0-9.]+ ms cpu, [0-9.]+->[0-9.]+ MB, [0-9.]+ MB goal, [0-9.]+ MB stacks, [0-9.]+ MB roots, [0-9]+ P \(forced\)
// EXPECT_STDERR: gc 3 @
#include "check.h"
#include <gort.h>

int main(void) {
    for (int i = 0; i < 1000; i++) CHECK(gort_alloc_noscan(100) != NULL);
    for (int i = 0; i < 3; i++) gort_gc();
    return 0;
}
