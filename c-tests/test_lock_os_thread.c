// gort_lock_os_thread keeps a goroutine on its OS thread across yields and sleeps while
// other goroutines are busy; calls nest; after the last unlock it may move again.
// TSAN: yes
// VALGRIND: yes
// TIMEOUT: 120
#include "check.h"
#include "gort.h"

#include <pthread.h>
#include <stdatomic.h>

static atomic_int stop, locked_done;

static void busy(void *arg) {
    (void)arg;
    while (!atomic_load(&stop)) gort_gosched();
}

static __thread int thread_local_marker;

static void locked(void *arg) {
    (void)arg;
    gort_lock_os_thread();
    gort_lock_os_thread(); /* nested */
    pthread_t self = pthread_self();
    thread_local_marker = 1234;
    for (int i = 0; i < 500; i++) {
        if (i % 2) gort_gosched(); else gort_sleep(100000);
        CHECK(pthread_equal(self, pthread_self()));
        CHECK_EQ(thread_local_marker, 1234);
    }
    gort_unlock_os_thread();
    for (int i = 0; i < 100; i++) { /* still locked: one lock left */
        gort_gosched();
        CHECK(pthread_equal(self, pthread_self()));
    }
    gort_unlock_os_thread();
    gort_unlock_os_thread(); /* an extra unlock is ignored */
    for (int i = 0; i < 100; i++) gort_gosched(); /* free to move now */
    atomic_fetch_add(&locked_done, 1);
}

static int main_goroutine(void *arg) {
    (void)arg;
    for (int i = 0; i < 4; i++) gort_go(busy, NULL);
    for (int i = 0; i < 3; i++) gort_go(locked, NULL);
    while (atomic_load(&locked_done) < 3) gort_sleep(1000000);
    atomic_store(&stop, 1);
    return 0;
}

int main(void) {
    gort_lock_os_thread(); /* no-ops on a plain thread */
    gort_unlock_os_thread();
    return gort_main(main_goroutine, NULL);
}
