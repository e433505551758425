// gort_thread_register / gort_thread_unregister: their rules on foreign threads, in
// goroutines and on threads that start with every signal blocked; threads registering,
// unregistering and exiting registered (the exit destructor) by the hundred while
// goroutines run; and GORT_GCSIGNAL choosing the stop signal.
// ENV: GORT_GCSIGNAL=45
// VALGRIND: yes
// ASAN: yes
// TIMEOUT: 120
#include "check.h"
#include "gort.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>

enum { THREADS = 6, ROUNDS = 100 };
static atomic_int stop_goroutines;
static atomic_int goroutines_done;

static void busy(void *arg) {
    (void)arg;
    gort_chan *c = gort_chan_make(sizeof(int), 1);
    CHECK(c != NULL);
    for (int v = 0; !atomic_load(&stop_goroutines); v++) {
        CHECK_EQ(gort_chan_send(c, &v), 0);
        CHECK_EQ(gort_chan_recv(c, NULL), 1);
        gort_gosched();
    }
    gort_chan_release(c);
    atomic_fetch_add(&goroutines_done, 1);
}

static int installed(int sig) {
    struct sigaction sa;
    CHECK_EQ(sigaction(sig, NULL, &sa), 0);
    return sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN;
}

static void *churn(void *arg) {
    long i = (long)arg;
    CHECK_EQ(gort_thread_unregister(), GORT_EINVAL); /* not registered yet */
    CHECK_EQ(gort_thread_register(), 0);
    CHECK_EQ(gort_thread_register(), 0); /* again: still fine */
    CHECK_EQ(gort_thread_unregister(), 0);
    CHECK_EQ(gort_thread_unregister(), GORT_EINVAL);
    CHECK(gort_now() > 0);                 /* any gort call registers the thread again */
    if (i % 2) CHECK_EQ(gort_thread_unregister(), 0);
    return NULL; /* odd: exits unregistered; even: the exit destructor unregisters it */
}

static void *blocked_everything(void *arg) {
    (void)arg;
    /* Started with every signal blocked: registration unblocks the GC signal only. */
    CHECK_EQ(gort_thread_register(), 0);
    sigset_t now;
    CHECK_EQ(pthread_sigmask(SIG_SETMASK, NULL, &now), 0);
    CHECK(!sigismember(&now, 45));
    CHECK(sigismember(&now, SIGUSR1));
    return NULL;
}

static int in_goroutine(void *arg) {
    (void)arg;
    CHECK_EQ(gort_thread_register(), 0);
    CHECK_EQ(gort_thread_unregister(), GORT_EINVAL); /* goroutines stay registered */
    return 0;
}

int main(void) {
    CHECK_EQ(gort_main(in_goroutine, NULL), 0);
    /* GORT_GCSIGNAL=45: that signal has gort's handler, the default one does not. */
    CHECK(installed(45));
    CHECK(!installed(SIGRTMIN + 7));

    for (int i = 0; i < 2; i++) CHECK_EQ(gort_go(busy, NULL), 0);
    for (int r = 0; r < ROUNDS; r++) {
        pthread_t t[THREADS];
        for (long i = 0; i < THREADS; i++) CHECK_EQ(pthread_create(&t[i], NULL, churn, (void *)(r * THREADS + i)), 0);
        for (int i = 0; i < THREADS; i++) CHECK_EQ(pthread_join(t[i], NULL), 0);
    }

    sigset_t all, old;
    sigfillset(&all);
    CHECK_EQ(pthread_sigmask(SIG_SETMASK, &all, &old), 0);
    pthread_t b;
    CHECK_EQ(pthread_create(&b, NULL, blocked_everything, NULL), 0);
    CHECK_EQ(pthread_sigmask(SIG_SETMASK, &old, NULL), 0);
    CHECK_EQ(pthread_join(b, NULL), 0);

    atomic_store(&stop_goroutines, 1);
    while (atomic_load(&goroutines_done) < 2) gort_sleep(1000000);
    printf("ok\n");
    return 0;
}
