// Built only as tsan-race_detected: data races between goroutines that ThreadSanitizer
// must report. gort orders goroutines only through its primitives (channels, mutexes,
// wait groups, spawn), never by the switches between them, so two goroutines racing on
// one thread (maxprocs 1) are reported as surely as two on different threads. The
// ordered accesses after each race must not be reported: exactly two reports.
// EXPECT_EXIT: 66
// EXPECT_STDERR: WARNING: ThreadSanitizer: data race
// EXPECT_STDERR: ThreadSanitizer: reported 2 warnings
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

static long shared_one_p, shared_two_p, ordered;
static gort_waitgroup wg;

static void racer_one_p(void *arg) {
    (void)arg;
    shared_one_p++; /* unordered with the other racer: a race, though on the same thread */
    gort_waitgroup_done(&wg);
}

static void racer_two_p(void *arg) {
    (void)arg;
    shared_two_p++;
    gort_waitgroup_done(&wg);
}

static void orderly(void *arg) {
    gort_mutex *mu = arg;
    gort_mutex_lock(mu);
    ordered++;
    gort_mutex_unlock(mu);
    gort_waitgroup_done(&wg);
}

static int main_goroutine(void *arg) {
    (void)arg;
    gort_gomaxprocs(1);
    gort_waitgroup_add(&wg, 2);
    CHECK_EQ(gort_go(racer_one_p, NULL), 0);
    CHECK_EQ(gort_go(racer_one_p, NULL), 0);
    gort_waitgroup_wait(&wg);
    CHECK_EQ(shared_one_p, 2); /* after Wait: ordered, no report */

    gort_gomaxprocs(2);
    gort_waitgroup_add(&wg, 2);
    CHECK_EQ(gort_go(racer_two_p, NULL), 0);
    CHECK_EQ(gort_go(racer_two_p, NULL), 0);
    gort_waitgroup_wait(&wg);

    gort_mutex mu = GORT_MUTEX_INIT;
    gort_waitgroup_add(&wg, 8);
    for (int i = 0; i < 8; i++) CHECK_EQ(gort_go(orderly, &mu), 0);
    gort_waitgroup_wait(&wg);
    CHECK_EQ(ordered, 8);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
