// Work queued from outside a P (here: goroutines spawned by a plain pthread, which go to
// the global run queue) must run even when the only P is kept busy by goroutines that
// yield to each other forever: one scheduling round in 61 serves the global queue first.
// ENV: GORT_MAXPROCS=1
// VALGRIND: yes
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

#include <pthread.h>
#include <stdatomic.h>

static atomic_int stop, from_thread;

static void yielder(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) gort_gosched();
}

static void marker(void *arg) {
    (void)arg;
    atomic_fetch_add(&from_thread, 1);
}

static void *spawner(void *arg) {
    (void)arg;
    for (int i = 0; i < 100; i++) CHECK_EQ(gort_go(marker, NULL), 0);
    return NULL;
}

static int main_goroutine(void *arg) {
    (void)arg;
    for (int i = 0; i < 3; i++) gort_go(yielder, NULL);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, spawner, NULL), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    while (atomic_load(&from_thread) < 100) gort_gosched();
    atomic_store(&stop, 1);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
