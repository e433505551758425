// One million goroutines alive at once with default settings, each parked for good in a
// sleep: they all start, gort_num_goroutine counts them, and a parked goroutine costs at
// most 8 KiB of resident memory. The sleepers are never woken: returning from the main
// goroutine ends the program.
// TIMEOUT: 300
// SERIAL: yes
#include "check.h"
#include "gort.h"

#include <stdatomic.h>
#include <stdio.h>

enum { N = 1000000 };
static atomic_int started;

static void sleeper(void *arg) {
    (void)arg;
    atomic_fetch_add(&started, 1);
    gort_sleep_until(gort_deadline_in(3600LL * 1000000000LL));
}

static int main_goroutine(void *arg) {
    (void)arg;
    long before = statm_bytes(1);
    for (int i = 0; i < N; i++) CHECK_EQ(gort_go(sleeper, NULL), 0);
    while (atomic_load(&started) < N) gort_sleep(1000000);
    CHECK(gort_num_goroutine() >= N);
    long per_goroutine = (statm_bytes(1) - before) / N;
    fprintf(stderr, "%d goroutines parked, %ld bytes resident each\n", N, per_goroutine);
    CHECK(per_goroutine <= 8192);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
