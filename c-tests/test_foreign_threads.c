// Threads the runtime does not own: plain pthreads spawn goroutines (before and after the
// runtime has started, without gort_init or gort_main), are not goroutines themselves,
// can sleep (blocking the thread) and can use gort_protect.
// VALGRIND: yes
// ASAN: yes
// TSAN: yes
// TIMEOUT: 120
#include "check.h"
#include "gort.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

enum { THREADS = 4, PER_THREAD = 5000 };
static atomic_long ran;

static void work(void *arg) {
    (void)arg;
    CHECK(gort_goid() > 0);
    if (atomic_fetch_add(&ran, 1) % 5 == 0) gort_gosched();
}

static void panics(void *arg) {
    (void)arg;
    gort_panic("from a pthread");
}

static void *spawner(void *arg) {
    (void)arg;
    CHECK_EQ(gort_goid(), 0);
    for (int i = 0; i < PER_THREAD; i++) CHECK_EQ(gort_go(work, NULL), 0);
    int64_t t0 = gort_now();
    gort_sleep(2 * 1000000LL); /* blocks this thread */
    CHECK(gort_now() - t0 >= 2 * 1000000LL);
    const char *msg = NULL;
    CHECK_EQ(gort_protect(panics, NULL, &msg), 1);
    CHECK(msg != NULL);
    return NULL;
}

int main(void) {
    /* The very first gort call comes from these threads: the runtime starts lazily. */
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) CHECK_EQ(pthread_create(&t[i], NULL, spawner, NULL), 0);
    for (int i = 0; i < THREADS; i++) CHECK_EQ(pthread_join(t[i], NULL), 0);
    while (atomic_load(&ran) < THREADS * PER_THREAD) gort_sleep(1000000);
    CHECK_EQ(atomic_load(&ran), THREADS * PER_THREAD);
    return 0;
}
