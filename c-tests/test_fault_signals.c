// What a SIGSEGV or SIGBUS that is not a goroutine stack overflow does, for each action
// the program had installed before gort's handler. Each case runs in a fresh child
// process (the parent never starts gort), which sets the action, starts gort and faults
// in a goroutine; the parent checks its status and stderr:
//   SIG_IGN, SIGSEGV and SIGBUS: fatal error naming the address, exit status 2 (before the
//     fix: an endless fault loop);
//   SIG_DFL: the same report, then the default action (killed by the signal);
//   a handler of the program's: called with the fault's address (here it _exits 42);
//   SIG_IGN and a SIGSEGV sent with kill: ignored, the program goes on;
//   SIG_DFL and a SIGSEGV sent with kill: killed by it, no fault report.
// TIMEOUT: 120
#include "check.h"
#include "gort.h"

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define BAD_ADDR ((uintptr_t)0xdead0000)

enum { SEGV_IGN, BUS_IGN, SEGV_DFL, SEGV_HANDLER, SENT_IGN, SENT_DFL, NCASES };

static int which;
static volatile void *bus_addr;

static void on_segv(int sig, siginfo_t *si, void *ctx) {
    (void)ctx;
    if (sig == SIGSEGV && (uintptr_t)si->si_addr == BAD_ADDR) _exit(42);
    _exit(43);
}

/* An address whose access raises SIGBUS: a page of a file mapping past the file's end. */
static volatile char *sigbus_page(void) {
    char path[] = "/tmp/gort-sigbus-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    unlink(path);
    void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0); /* the file is empty */
    CHECK(p != MAP_FAILED);
    close(fd);
    return p;
}

static void faulting(void *arg) {
    volatile int *sink = arg;
    switch (which) {
    case BUS_IGN: *sink = *(volatile char *)bus_addr; break;
    case SENT_IGN:
    case SENT_DFL:
        CHECK_EQ(kill(getpid(), SIGSEGV), 0);
        *sink = 1;
        break;
    default: *sink = *(volatile int *)BAD_ADDR; break;
    }
}

static int child_main(void *arg) {
    (void)arg;
    int sink = 0;
    CHECK_EQ(gort_go(faulting, &sink), 0);
    for (int i = 0; i < 1000 && sink == 0; i++) gort_sleep(10 * 1000000LL);
    /* Only the ignored kill() comes back here. */
    return which == SENT_IGN && sink == 1 ? 5 : 6;
}

static void run_child(int c, int err_fd) {
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core); /* the SIG_DFL cases would dump core */
    CHECK(dup2(err_fd, 2) == 2);
    which = c;
    if (c == BUS_IGN) {
        bus_addr = sigbus_page();
        fprintf(stderr, "sigbus page %p\n", (void *)bus_addr);
        fflush(stderr);
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    switch (c) {
    case SEGV_IGN:
    case SENT_IGN: sa.sa_handler = SIG_IGN; break;
    case BUS_IGN: sa.sa_handler = SIG_IGN; break;
    case SEGV_HANDLER:
        sa.sa_sigaction = on_segv;
        sa.sa_flags = SA_SIGINFO;
        break;
    default: sa.sa_handler = SIG_DFL; break;
    }
    CHECK_EQ(sigaction(c == BUS_IGN ? SIGBUS : SIGSEGV, &sa, NULL), 0);
    exit(gort_main(child_main, NULL));
}

int main(void) {
    for (int c = 0; c < NCASES; c++) {
        int fds[2];
        CHECK_EQ(pipe(fds), 0);
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            run_child(c, fds[1]);
        }
        close(fds[1]);
        char buf[2048];
        size_t len = 0;
        ssize_t n;
        while (len < sizeof buf - 1 && (n = read(fds[0], buf + len, sizeof buf - 1 - len)) > 0) len += (size_t)n;
        buf[len] = 0;
        close(fds[0]);
        int st;
        CHECK_EQ(waitpid(pid, &st, 0), pid);
        int report = strstr(buf, "fatal error: fault") != NULL;
        int ok;
        switch (c) {
        case SEGV_IGN:
            ok = WIFEXITED(st) && WEXITSTATUS(st) == 2 && report &&
                 strstr(buf, "unexpected fault address 0xdead0000") &&
                 strstr(buf, "[signal SIGSEGV: segmentation violation code=0x1 addr=0xdead0000 pc=0x");
            break;
        case BUS_IGN: {
            /* The child printed the page's address before touching it. */
            void *page = NULL;
            const char *at = strstr(buf, "sigbus page ");
            char want[128] = "(no address)";
            if (at && sscanf(at, "sigbus page %p", &page) == 1)
                snprintf(want, sizeof want, "[signal SIGBUS: bus error code=0x2 addr=%p pc=0x", page);
            ok = WIFEXITED(st) && WEXITSTATUS(st) == 2 && report && strstr(buf, want);
            break;
        }
        case SEGV_DFL:
            ok = WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV && report && strstr(buf, "addr=0xdead0000");
            break;
        case SEGV_HANDLER: ok = WIFEXITED(st) && WEXITSTATUS(st) == 42 && !report; break;
        case SENT_IGN: ok = WIFEXITED(st) && WEXITSTATUS(st) == 5 && !report; break;
        default: ok = WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV && !report; break;
        }
        if (!ok) {
            fprintf(stderr, "case %d: status %#x, stderr:\n%s\n", c, st, buf);
            CHECK(0);
        }
    }
    return 0;
}
