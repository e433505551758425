// Goroutine basics through the public header: gort_main's return value, ids, spawning
// many goroutines, gort_num_goroutine, gort_goexit with defers, gort_num_cpu and
// gort_gomaxprocs.
// VALGRIND: yes
// ASAN: yes
// TSAN: yes
// TIMEOUT: 120
#include "check.h"
#include "gort.h"

#include <stdatomic.h>
#include <stdint.h>

#define MS 1000000LL

static atomic_long counter;
static atomic_llong id_sum;

static void count_one(void *arg) {
    (void)arg;
    int64_t id = gort_goid();
    CHECK(id > 1);                 /* 1 is the main goroutine */
    atomic_fetch_add(&id_sum, id); /* summed below to show ids are distinct */
    atomic_fetch_add(&counter, 1);
}

static void wait_count(atomic_long *c, long n) {
    while (atomic_load(c) < n) gort_sleep(100000);
}

static atomic_int parked, release_parked;
static void park_until_released(void *arg) {
    (void)arg;
    atomic_fetch_add(&parked, 1);
    while (!atomic_load(&release_parked)) gort_sleep(1 * MS);
    atomic_fetch_sub(&parked, 1);
}

static atomic_int deferred_ran, after_goexit;
static void mark_deferred(void *arg) { atomic_fetch_add(&deferred_ran, (int)(intptr_t)arg); }
static void exits_early(void *arg) {
    (void)arg;
    gort_defer(mark_deferred, (void *)1);
    gort_defer(mark_deferred, (void *)10);
    gort_goexit();
    atomic_store(&after_goexit, 1); /* never reached */
}

static atomic_int spins, stop_spinning, spinners;
static void spin_a_bit(void *arg) {
    (void)arg;
    while (!atomic_load(&stop_spinning)) {
        atomic_fetch_add(&spins, 1);
        gort_gosched();
    }
    atomic_fetch_sub(&spinners, 1);
}

static int main_goroutine(void *arg) {
    (void)arg;
    CHECK_EQ(gort_goid(), 1);

    /* Many goroutines, each with a distinct id. */
    enum { N = 20000 };
    for (int i = 0; i < N; i++) CHECK_EQ(gort_go(count_one, NULL), 0);
    wait_count(&counter, N);
    /* ids are unique, so their sum is at least 2+3+...+(N+1). */
    CHECK(atomic_load(&id_sum) >= (long long)N * (N + 3) / 2);

    /* gort_num_goroutine sees parked goroutines. */
    for (int i = 0; i < 100; i++) gort_go(park_until_released, NULL);
    while (atomic_load(&parked) < 100) gort_sleep(1 * MS);
    CHECK(gort_num_goroutine() >= 101);
    atomic_store(&release_parked, 1);
    while (atomic_load(&parked) > 0) gort_sleep(1 * MS);

    /* gort_goexit ends a goroutine after running its defers (LIFO: 10 then 1). */
    gort_go(exits_early, NULL);
    while (atomic_load(&deferred_ran) < 11) gort_sleep(1 * MS);
    CHECK_EQ(atomic_load(&deferred_ran), 11);
    CHECK_EQ(atomic_load(&after_goexit), 0);

    /* NULL function: an error, not a crash. */
    CHECK_EQ(gort_go(NULL, NULL), GORT_EINVAL);

    CHECK(gort_num_cpu() > 0);

    /* gort_gomaxprocs: query, change while goroutines run, restore. */
    int orig = gort_gomaxprocs(0);
    CHECK(orig >= 1);
    atomic_store(&spinners, 8);
    for (int i = 0; i < 8; i++) gort_go(spin_a_bit, NULL);
    CHECK_EQ(gort_gomaxprocs(3), orig);
    CHECK_EQ(gort_gomaxprocs(0), 3);
    int before = atomic_load(&spins);
    while (atomic_load(&spins) < before + 1000) gort_gosched();
    CHECK_EQ(gort_gomaxprocs(1), 3);
    before = atomic_load(&spins);
    while (atomic_load(&spins) < before + 1000) gort_gosched();
    CHECK_EQ(gort_gomaxprocs(orig), 1);
    atomic_store(&stop_spinning, 1);
    while (atomic_load(&spinners) > 0) gort_gosched();
    return 42;
}

int main(void) {
    CHECK_EQ(gort_goid(), 0); /* a plain thread is not a goroutine */
    CHECK_EQ(gort_main(main_goroutine, NULL), 42);
    CHECK_EQ(gort_main(NULL, NULL), GORT_EINVAL);
    return 0;
}
