// ASAN: yes
// VALGRIND: yes
/*
 * A channel lives until its last reference goes (gort_chan_retain/gort_chan_release), and
 * a use after that is caught by the asan build of gort: each channel operation asks ASan
 * whether the channel is still allocated, because the Rust side is not instrumented and
 * ASan would not see it read freed memory. Only the asan variant makes that stale call (it
 * is undefined behaviour), in a child process, and checks that the child died with ASan's
 * heap-use-after-free report naming gort_chan_release as the free. Every variant checks
 * that references keep a channel alive: a goroutine owning one uses the channel after its
 * creator let go of its own (valgrind and ASan would flag an early free).
 */
#include "check.h"

#include <gort.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif

#ifdef TEST_ASAN
static char report[1 << 16];

static void stale_use_is_reported(void) {
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        gort_chan *c = gort_chan_make(sizeof(int), 1);
        gort_chan_release(c);
        int v = 1;
        gort_chan_send_until(c, &v, 0); /* the bug: c is freed */
        _exit(0);                       /* reached only if nobody noticed */
    }
    close(fds[1]);
    size_t n = 0;
    ssize_t r;
    while (n < sizeof report - 1 && (r = read(fds[0], report + n, sizeof report - 1 - n)) > 0)
        n += (size_t)r;
    report[n] = 0;
    close(fds[0]);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid);
    fprintf(stderr, "---- the child's stderr ----\n%s---- end ----\n", report);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    CHECK(strstr(report, "heap-use-after-free") != NULL);
    CHECK(strstr(report, "gort_chan_release") != NULL);
}
#endif

static gort_waitgroup done = GORT_WAITGROUP_INIT;

static void owner(void *arg) { /* owns one reference to the channel */
    gort_chan *c = arg;
    int v = 42;
    CHECK_EQ(gort_chan_send(c, &v), 0);
    gort_chan_release(c);
    gort_waitgroup_done(&done);
}

static void references_keep_it_alive(void) {
    for (int i = 0; i < 200; i++) {
        gort_chan *c = gort_chan_make(sizeof(int), 0);
        CHECK(c != NULL);
        gort_chan_retain(c); /* the goroutine's */
        gort_waitgroup_add(&done, 1);
        CHECK_EQ(gort_go(owner, c), 0);
        int got = 0;
        CHECK_EQ(gort_chan_recv(c, &got), 1);
        CHECK_EQ(got, 42);
        gort_chan_release(c); /* ours: the goroutine may still hold its own */
    }
    gort_waitgroup_wait(&done);
}

int main(void) {
#ifdef TEST_ASAN
    stale_use_is_reported(); /* forks before this process starts the runtime */
#endif
    references_keep_it_alive();
    return 0;
}
