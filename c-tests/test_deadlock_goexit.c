// The main goroutine calling gort_goexit leaves gort_main with nothing to wait for: Go
// reports "no goroutines (main called runtime.Goexit) - deadlock!" once the rest finish.
// EXPECT_EXIT: 2
// EXPECT_STDERR: fatal error: no goroutines \(main called gort_goexit\) - deadlock!
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

static int main_goroutine(void *arg) {
    (void)arg;
    gort_goexit();
}

int main(void) { return gort_main(main_goroutine, NULL); }
