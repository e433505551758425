// gort_gomaxprocs from several goroutines at once: the one that stops the world must not
// wait for the P of another caller queued on the stop-the-world lock (that caller used to
// hold its P RUNNING while it waited: a deadlock, this test hung within a few rounds).
// ENV: GORT_MAXPROCS=2
// TIMEOUT: 120
#include "check.h"
#include "gort.h"

#include <stdatomic.h>

enum { CALLERS = 4, ROUNDS = 300 };
static gort_waitgroup wg;
static atomic_int spin_stop, callers_done;

static void caller(void *arg) {
    long k = (long)arg;
    for (int i = 0; i < ROUNDS; i++) CHECK(gort_gomaxprocs((int)(1 + (k + i) % 3)) >= 1);
    atomic_fetch_add(&callers_done, 1);
    gort_waitgroup_done(&wg);
}

static void spinner(void *arg) {
    (void)arg;
    while (!atomic_load(&spin_stop)) gort_gosched();
    gort_waitgroup_done(&wg);
}

static int run(void *arg) {
    (void)arg;
    gort_waitgroup_add(&wg, CALLERS + 2);
    for (long k = 0; k < 2; k++) CHECK_EQ(gort_go(spinner, NULL), 0);
    for (long k = 0; k < CALLERS; k++) CHECK_EQ(gort_go(caller, (void *)k), 0);
    while (atomic_load(&callers_done) < CALLERS) gort_sleep(1000000);
    atomic_store(&spin_stop, 1);
    gort_waitgroup_wait(&wg);
    gort_gomaxprocs(2);
    return 0;
}

int main(void) {
    CHECK_EQ(gort_main(run, NULL), 0);
    printf("ok\n");
    return 0;
}
