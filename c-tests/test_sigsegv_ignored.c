// The program had set SIGSEGV to SIG_IGN before gort installed its handler. A real fault
// in a goroutine (not a stack overflow) cannot be ignored: before the fix the handler
// returned and the instruction faulted again for ever, at 100% CPU. Now it is a fatal
// error naming the address, exit status 2.
// EXPECT_EXIT: 2
// EXPECT_STDERR: unexpected fault address 0xdead0000
// EXPECT_STDERR: fatal error: fault
// EXPECT_STDERR: \[signal SIGSEGV: segmentation violation code=0x[0-9a-f]+ addr=0xdead0000 pc=0x[0-9a-f]+\]
// EXPECT_STDERR: goroutine [0-9]+ \[running\]
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

#include <signal.h>
#include <stdint.h>

static void fault(void *arg) {
    volatile int *bad = (volatile int *)(uintptr_t)0xdead0000;
    *(int *)arg = *bad;
}

static int main_goroutine(void *arg) {
    (void)arg;
    int sink = 0;
    CHECK_EQ(gort_go(fault, &sink), 0);
    gort_sleep(60LL * 1000000000LL);
    return 0; /* not reached: the fault ends the process */
}

int main(void) {
    CHECK(signal(SIGSEGV, SIG_IGN) != SIG_ERR);
    return gort_main(main_goroutine, NULL);
}
