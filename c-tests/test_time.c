// The clock, deadlines and sleeping.
// VALGRIND: yes
// TIMEOUT: 120
#include "check.h"
#include "gort.h"

#include <stdatomic.h>
#include <stdint.h>

#define MS 1000000LL

enum { MANY = 10000 };
static atomic_int many_done;

static void many_sleeper(void *arg) {
    int64_t ns = (int64_t)(intptr_t)arg;
    int64_t t0 = gort_now();
    gort_sleep(ns);
    CHECK(gort_now() - t0 >= ns); /* never early */
    atomic_fetch_add(&many_done, 1);
}

static int main_goroutine(void *arg) {
    (void)arg;
    /* Monotonic, non-decreasing. */
    int64_t prev = gort_now();
    for (int i = 0; i < 100000; i++) {
        int64_t now = gort_now();
        CHECK(now >= prev);
        prev = now;
    }
    /* gort_deadline_in is now + ns, saturating. */
    int64_t before = gort_now();
    int64_t d = gort_deadline_in(50 * MS);
    CHECK(d >= before + 50 * MS);
    CHECK(gort_deadline_in(INT64_MAX) == INT64_MAX);

    /* Sleeps last at least as long as asked. */
    int64_t t0 = gort_now();
    gort_sleep(10 * MS);
    CHECK(gort_now() - t0 >= 10 * MS);
    t0 = gort_now();
    CHECK_EQ(gort_sleep_until(gort_deadline_in(5 * MS)), 0);
    CHECK(gort_now() - t0 >= 5 * MS);
    /* A deadline in the past, zero or negative durations: return at once. */
    CHECK_EQ(gort_sleep_until(0), 0);
    CHECK_EQ(gort_sleep_until(gort_now() - 1), 0);
    gort_sleep(0);
    gort_sleep(-5);

    /* Ten thousand concurrent sleepers all wake, none early. */
    for (int i = 0; i < MANY; i++) gort_go(many_sleeper, (void *)(intptr_t)((i % 50) * 100000));
    while (atomic_load(&many_done) < MANY) gort_sleep(1 * MS);
    return 0;
}

int main(void) {
    /* On a plain thread, sleeping blocks the thread. */
    int64_t t0 = gort_now();
    gort_sleep(3 * MS);
    CHECK(gort_now() - t0 >= 3 * MS);
    return gort_main(main_goroutine, NULL);
}
