/*
 * showcase: goroutines from C with gort.
 *
 *  1. 10,000 goroutines each sleep 100 ms. They park on the runtime's timers instead of
 *     holding an OS thread each, so together they take ~100 ms, not 1,000 s.
 *  2. Sleep sort: one goroutine per number sleeps for a time proportional to its value,
 *     then appends it to the output; the timers put the numbers in order.
 *
 * Everything runs under gort_main, which runs the main goroutine and returns its value.
 */
#include <gort.h>
#include <stdatomic.h>
#include <stdio.h>

#define MS 1000000LL /* nanoseconds */

enum { SLEEPERS = 10000 };
static atomic_int sleepers_done;

static void sleeper(void *arg) {
    (void)arg;
    gort_sleep(100 * MS);
    atomic_fetch_add(&sleepers_done, 1);
}

static const int values[] = {7, 3, 9, 1, 12, 5, 8, 2, 11, 4, 10, 6};
enum { NVALUES = sizeof values / sizeof values[0] };
static int sorted[NVALUES];
static atomic_int next_slot;  /* where the next finisher writes   */
static atomic_int sorted_len; /* how many have written their value */

static void sort_one(void *arg) {
    int v = *(const int *)arg;
    gort_sleep(v * 10 * MS);
    sorted[atomic_fetch_add(&next_slot, 1)] = v;
    atomic_fetch_add(&sorted_len, 1);
}

/* Waits (parking this goroutine, not spinning) until *counter reaches n. */
static void wait_for(atomic_int *counter, int n) {
    while (atomic_load(counter) < n) gort_sleep(1 * MS);
}

static int main_goroutine(void *arg) {
    (void)arg;
    printf("gort showcase: %d CPUs\n\n", gort_num_cpu());

    int64_t start = gort_now();
    for (int i = 0; i < SLEEPERS; i++) {
        if (gort_go(sleeper, NULL) != 0) {
            fprintf(stderr, "gort_go failed after %d goroutines\n", i);
            return 1;
        }
    }
    wait_for(&sleepers_done, SLEEPERS);
    double ms = (double)(gort_now() - start) / MS;
    printf("%d goroutines slept 100 ms each: all done in %.0f ms (one after another: %d s)\n\n",
           SLEEPERS, ms, SLEEPERS / 10);

    printf("sleep sort of");
    for (int i = 0; i < NVALUES; i++) printf(" %d", values[i]);
    printf("\n");
    for (int i = 0; i < NVALUES; i++) gort_go(sort_one, (void *)&values[i]);
    wait_for(&sorted_len, NVALUES);
    int in_order = 1;
    printf("           gives");
    for (int i = 0; i < NVALUES; i++) {
        printf(" %d", sorted[i]);
        if (i > 0 && sorted[i - 1] > sorted[i]) in_order = 0;
    }
    printf("%s\n", in_order ? "" : "  (out of order: timers fired late)");
    return 0;
}

int main(void) {
    return gort_main(main_goroutine, NULL);
}
