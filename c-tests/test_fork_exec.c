// fork while goroutines run on every P: a child that only calls _exit or execv never
// hangs, whichever runtime locks other threads held at the moment of the fork. Forks
// come from a goroutine and from a plain pthread; the parent checks every exit status.
// (A hung child would make this test time out.)
// TIMEOUT: 200
#include "check.h"
#include "gort.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

enum { FORKS = 200, THREAD_FORKS = 50 };
static atomic_int stop;

static void noop(void *arg) { (void)arg; }

/* Keeps its P busy with everything that takes runtime locks: channel operations, spawns
   (run queues, the scheduler lock when Ps wake), timers, yields, the semaphore table. */
static void churn(void *arg) {
    gort_mutex *mu = arg;
    gort_chan *c = gort_chan_make(sizeof(long), 2);
    CHECK(c != NULL);
    for (long v = 0; !atomic_load(&stop); v++) {
        CHECK_EQ(gort_chan_send(c, &v), 0);
        long got;
        CHECK_EQ(gort_chan_recv(c, &got), 1);
        CHECK_EQ(got, v);
        CHECK_EQ(gort_go(noop, NULL), 0);
        gort_mutex_lock(mu);
        gort_mutex_unlock(mu);
        if (v % 8 == 0) gort_sleep(1000);
        gort_gosched();
    }
    gort_chan_release(c);
}

static char *const true_argv[] = {"true", NULL};

static pid_t fork_child(int i) {
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* Only async-signal-safe calls in the child. */
        if (i % 2 == 0) _exit(7);
        execv("/bin/true", true_argv);
        _exit(99); /* exec failed */
    }
    return pid;
}

static void check_status(int i, int status) {
    CHECK(WIFEXITED(status));
    CHECK_EQ(WEXITSTATUS(status), i % 2 == 0 ? 7 : 0);
}

static void *thread_forks(void *arg) {
    (void)arg;
    for (int i = 0; i < THREAD_FORKS; i++) {
        pid_t pid = fork_child(i);
        int status;
        CHECK_EQ(waitpid(pid, &status, 0), pid);
        check_status(i, status);
    }
    return NULL;
}

static int main_goroutine(void *arg) {
    (void)arg;
    static gort_mutex mu = GORT_MUTEX_INIT;
    int workers = 2 * gort_gomaxprocs(0);
    for (int i = 0; i < workers; i++) CHECK_EQ(gort_go(churn, &mu), 0);
    gort_sleep(1000000); /* let the workers spread over the Ps */

    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, thread_forks, NULL), 0);
    for (int i = 0; i < FORKS; i++) {
        pid_t pid = fork_child(i);
        int status;
        gort_blocking_enter();
        pid_t r = waitpid(pid, &status, 0);
        gort_blocking_exit();
        CHECK_EQ(r, pid);
        check_status(i, status);
    }
    gort_blocking_enter();
    CHECK_EQ(pthread_join(th, NULL), 0);
    gort_blocking_exit();
    atomic_store(&stop, 1);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
