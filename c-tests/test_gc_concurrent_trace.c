/* The concurrent mode's gctrace line has Go's three clock figures (first pause,
 * concurrent mark, second pause), Go's CPU split (pauses, assists / background / idle)
 * and the mutator utilisation; the mode is fixed when the runtime starts (a later
 * gort_init asking for the other mode is refused with GORT_EBUSY), and a mode that does
 * not exist is refused with GORT_EINVAL. */
// ENV: GORT_GCMODE=concurrent
// ENV: GORT_DEBUG=gctrace=1
// EXPECT_STDERR: gc 1 @[0-9.]+s [0-9]+%: [0-9.]+\+[0-9.]+\+[0-9.]+ ms clock, [0-9.]+\+[0-9.]+/[0-9.]+/[0-9.]+\+[0-9.]+ ms cpu, [0-9.]+->[0-9.]+->[0-9.]+ MB, [0-9.]+ MB goal, [0-9.]+ MB stacks, [0-9.]+ MB roots, [0-9]+ P \(concurrent\) \(forced\), [0-9]+% mutator
// TIMEOUT: 120
#include "check.h"
#include <gort.h>
#include <string.h>

int main(void) {
    gort_config bad;
    memset(&bad, 0, sizeof bad);
    bad.gc_mode = 7;
    CHECK_EQ(gort_init(&bad), GORT_EINVAL);

    size_t off[] = {0};
    const gort_type *t = gort_type_new("cell", sizeof(void *), off, 1);
    CHECK(t != NULL);
    void *keep = gort_new(t); /* starts the runtime in the mode GORT_GCMODE names */
    CHECK(keep != NULL);

    gort_config stw;
    memset(&stw, 0, sizeof stw);
    stw.gc_mode = GORT_GCMODE_STW;
    CHECK_EQ(gort_init(&stw), GORT_EBUSY); /* too late: the collector's mode is fixed */

    for (int i = 0; i < 100000; i++) CHECK(gort_new(t) != NULL);
    gort_gc();
    gort_keep_alive(keep);
    return 0;
}
