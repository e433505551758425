// A GORT_GCSIGNAL that names no usable signal is a fatal error at the first gort call.
// ENV: GORT_GCSIGNAL=9
// EXPECT_EXIT: 2
// EXPECT_STDERR: fatal error: GORT_GCSIGNAL=9: not a usable signal number
#include "check.h"
#include "gort.h"

int main(void) {
    gort_now();
    return 0;
}
