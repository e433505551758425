// What each crash shows, per GORT_TRACEBACK, and SIGQUIT and hangwarn: the test runs
// itself as a child per scenario (the parent never starts the runtime), captures the
// child's stderr and checks it and the exit status.
//   panic + single (default): the panicking goroutine only, with its frames
//   panic + all: every goroutine; none: no goroutine at all; crash: SIGABRT (no core: the
//   child sets RLIMIT_CORE to 0)
//   SIGQUIT: "SIGQUIT: quit", every goroutine, exit 2; with GORT_DEBUG=sigquitcontinue=1
//   the program goes on
//   GORT_DEBUG=hangwarn=1: a goroutine parked for a second makes the watchdog print every
//   goroutine once; the parent then tells the child (through a pipe it waits on) to exit
//   GORT_TRACEBACK=bogus: a warning naming the known values
// TIMEOUT: 120
#include "check.h"
#include "gort.h"
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

static gort_chan *never;

__attribute__((noinline)) static void bystander(void *arg) {
    (void)arg;
    int v;
    gort_chan_recv(never, &v);
}

__attribute__((noinline)) static void doomed(void) { gort_panic("boom"); }

/* Waits until the bystander is parked in its receive (on a loaded machine it may take a
 * while to get there): polls a dump into a memory file. */
static void wait_until_parked(void) {
    for (int attempt = 0; attempt < 10000; attempt++) {
        int fd = memfd_create("dump", 0);
        CHECK(fd >= 0);
        CHECK_EQ(gort_dump_goroutines(fd), 0);
        off_t len = lseek(fd, 0, SEEK_END);
        if (len == 0) { /* GORT_TRACEBACK=none: nothing to look at, nothing to wait for */
            close(fd);
            return;
        }
        char *text = calloc(1, (size_t)len + 1);
        CHECK(text != NULL);
        CHECK_EQ(pread(fd, text, (size_t)len, 0), len);
        close(fd);
        int parked = strstr(text, "[chan receive]:") != NULL && strstr(text, "bystander(...)") != NULL;
        free(text);
        if (parked) return;
        gort_sleep(1000000);
    }
    CHECK(!"the bystander never parked");
}

static int release_fd = -1; /* hangwarn: the parent writes here when it saw the dump */

static int child_main(void *arg) {
    const char *what = arg;
    never = gort_chan_make(sizeof(int), 0);
    gort_go(bystander, NULL);
    wait_until_parked();
    if (strcmp(what, "panic") == 0) {
        doomed();
    } else if (strcmp(what, "sigquit") == 0) {
        raise(SIGQUIT); /* this thread: handled before raise returns */
        fprintf(stderr, "after SIGQUIT\n");
    } else if (strcmp(what, "hangwarn") == 0) {
        char b;
        /* Parks in the netpoller until the parent has seen the watchdog's dump. */
        CHECK_EQ(gort_read(release_fd, &b, 1, GORT_FOREVER), 1);
        fprintf(stderr, "released\n");
    }
    return 0;
}

struct result {
    int status;
    char out[65536];
};

static void run(const char *self, const char *what, const char *traceback, const char *debug, struct result *r) {
    int err[2], rel[2];
    CHECK(pipe(err) == 0 && pipe(rel) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(err[1], 2);
        close(err[0]);
        close(rel[1]);
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        if (traceback) setenv("GORT_TRACEBACK", traceback, 1); else unsetenv("GORT_TRACEBACK");
        if (debug) setenv("GORT_DEBUG", debug, 1); else unsetenv("GORT_DEBUG");
        char fd[16];
        snprintf(fd, sizeof fd, "%d", rel[0]);
        execl(self, self, what, fd, (char *)NULL);
        _exit(127);
    }
    close(err[1]);
    close(rel[0]);
    size_t n = 0;
    int released = 0;
    for (;;) {
        ssize_t k = read(err[0], r->out + n, sizeof r->out - 1 - n);
        if (k <= 0) break;
        n += (size_t)k;
        r->out[n] = 0;
        /* Once only: after the release the child exits, and a second write into a pipe
         * whose reader is gone would kill this parent with SIGPIPE. */
        if (!released && strcmp(what, "hangwarn") == 0 && strstr(r->out, "bystander(...)") != NULL) {
            CHECK_EQ(write(rel[1], "x", 1), 1);
            released = 1;
        }
    }
    r->out[n] = 0;
    close(err[0]);
    close(rel[1]);
    CHECK(waitpid(pid, &r->status, 0) == pid);
}

#define HAS(s) (strstr(r.out, (s)) != NULL)
#define SHOW() fprintf(stderr, "---- child output ----\n%s----\n", r.out)

int main(int argc, char **argv) {
    if (argc == 3) {
        release_fd = atoi(argv[2]);
        return gort_main(child_main, argv[1]);
    }
    static struct result r;

    run(argv[0], "panic", NULL, NULL, &r);
    if (!(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 2 && HAS("panic: boom\n") &&
          HAS("\ngoroutine 1 [running]:\n") && HAS("doomed(...)") && HAS("child_main(...)") &&
          !HAS("bystander"))) { SHOW(); CHECK(!"panic, single"); }

    run(argv[0], "panic", "all", NULL, &r);
    if (!(WEXITSTATUS(r.status) == 2 && HAS("doomed(...)") && HAS("[chan receive]:") && HAS("bystander(...)") &&
          HAS("created by child_main in goroutine 1"))) { SHOW(); CHECK(!"panic, all"); }

    run(argv[0], "panic", "none", NULL, &r);
    if (!(WEXITSTATUS(r.status) == 2 && HAS("panic: boom\n") && !HAS("goroutine"))) { SHOW(); CHECK(!"panic, none"); }

    run(argv[0], "panic", "system", NULL, &r);
    if (!(WEXITSTATUS(r.status) == 2 && HAS("gort::") && HAS("bystander(...)"))) { SHOW(); CHECK(!"panic, system"); }

    run(argv[0], "panic", "crash", NULL, &r);
    if (!(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT && HAS("bystander(...)"))) {
        SHOW();
        CHECK(!"panic, crash");
    }

    run(argv[0], "panic", "bogus", NULL, &r);
    if (!(WEXITSTATUS(r.status) == 2 && HAS("unknown GORT_TRACEBACK \"bogus\" (known: none, single, all, system, crash)") &&
          HAS("doomed(...)"))) { SHOW(); CHECK(!"bogus level"); }

    run(argv[0], "sigquit", NULL, NULL, &r);
    if (!(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 2 && HAS("SIGQUIT: quit\nPC=") &&
          HAS("\ngoroutine 1 [running]:\n") && HAS("bystander(...)") && !HAS("after SIGQUIT"))) {
        SHOW();
        CHECK(!"sigquit");
    }

    run(argv[0], "sigquit", NULL, "sigquitcontinue=1", &r);
    if (!(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0 && HAS("SIGQUIT: quit") && HAS("bystander(...)") &&
          HAS("after SIGQUIT"))) { SHOW(); CHECK(!"sigquit, continue"); }

    run(argv[0], "hangwarn", NULL, "hangwarn=1", &r);
    if (!(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0 && HAS("gort: hangwarn: goroutine ") &&
          HAS("bystander(...)") && HAS("released\n"))) { SHOW(); CHECK(!"hangwarn"); }

    printf("ok\n");
    return 0;
}
