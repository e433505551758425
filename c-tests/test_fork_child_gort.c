// A gort call in the child of a fork (made while goroutines run on every P) is a fatal
// error, exit status 2, never a hang: the child has only the forking thread, so locks
// the runtime's other threads held are held for ever. gort_now (no runtime state) still
// works there. The parent checks each child's status and stderr.
// TIMEOUT: 200
#include "check.h"
#include "gort.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { FORKS = 60 };
static atomic_int stop;

static void noop(void *arg) { (void)arg; }

static void churn(void *arg) {
    (void)arg;
    gort_chan *c = gort_chan_make(sizeof(long), 1);
    CHECK(c != NULL);
    for (long v = 0; !atomic_load(&stop); v++) {
        CHECK_EQ(gort_chan_send(c, &v), 0);
        CHECK_EQ(gort_chan_recv(c, NULL), 1);
        CHECK_EQ(gort_go(noop, NULL), 0);
        if (v % 8 == 0) gort_sleep(1000);
        gort_gosched();
    }
    gort_chan_release(c);
}

/* What the child calls: 0 gort_go, 1 gort_chan_make, 2 gort_gosched, 3 returns from the
   goroutine (the runtime would take over the child's only thread). */
static void child(int what, int err_fd) {
    CHECK(dup2(err_fd, 2) == 2);
    CHECK(gort_now() > 0);
    switch (what) {
    case 0: gort_go(noop, NULL); break;
    case 1: gort_chan_make(sizeof(int), 1); break;
    case 2: gort_gosched(); break;
    }
}

static const char *const expected[] = {"(gort_go)", "(gort_chan_make)", "(gort_gosched)",
                                       "(a goroutine returning)"};

struct fork_one {
    int what;
    int fds[2];
    pid_t pid;
    gort_waitgroup wg;
};

/* Forks in a goroutine of its own, so that case 3 returns from this goroutine. */
static void fork_one(void *arg) {
    struct fork_one *f = arg;
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        close(f->fds[0]);
        child(f->what, f->fds[1]);
        if (f->what != 3) _exit(0); /* not reached: the call in child() is refused */
        return;                     /* case 3: the goroutine returns in the child */
    }
    f->pid = pid;
    gort_waitgroup_done(&f->wg);
}

static int main_goroutine(void *arg) {
    (void)arg;
    int workers = 2 * gort_gomaxprocs(0);
    for (int i = 0; i < workers; i++) CHECK_EQ(gort_go(churn, NULL), 0);
    gort_sleep(1000000);
    for (int i = 0; i < FORKS; i++) {
        struct fork_one f = {.what = i % 4, .wg = GORT_WAITGROUP_INIT};
        CHECK_EQ(pipe(f.fds), 0);
        gort_waitgroup_add(&f.wg, 1);
        CHECK_EQ(gort_go(fork_one, &f), 0);
        gort_waitgroup_wait(&f.wg);
        close(f.fds[1]);
        char buf[512];
        size_t len = 0;
        for (;;) {
            gort_blocking_enter();
            ssize_t n = read(f.fds[0], buf + len, sizeof buf - 1 - len);
            gort_blocking_exit();
            CHECK(n >= 0);
            if (n == 0) break;
            len += (size_t)n;
            if (len == sizeof buf - 1) break;
        }
        buf[len] = 0;
        close(f.fds[0]);
        int status;
        gort_blocking_enter();
        pid_t r = waitpid(f.pid, &status, 0);
        gort_blocking_exit();
        CHECK_EQ(r, f.pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 2 ||
            !strstr(buf, "fatal error: gort used in a forked child") || !strstr(buf, expected[f.what])) {
            fprintf(stderr, "fork %d (case %d): status %#x, stderr: %s\n", i, f.what, status, buf);
            CHECK(0);
        }
    }
    atomic_store(&stop, 1);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
