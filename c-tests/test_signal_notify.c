// gort_signal_notify / gort_signal_stop, Go's os/signal, with real signals: delivery of
// the signal number on an int channel, signals from another process (kill) and from
// this thread (raise), several channels per signal, non-blocking sends (a full channel
// drops, later signals still arrive), the program's own handler still running, nothing
// delivered after stop, and the argument checks.
// VALGRIND: yes
// ASAN: yes
#include "check.h"
#include "gort.h"
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

static volatile sig_atomic_t own_handler_calls;

static void own_handler(int sig) {
    (void)sig;
    own_handler_calls++;
}

static int recv_int(gort_chan *c) {
    int v = -1;
    CHECK_EQ(gort_chan_recv(c, &v), 1);
    return v;
}

static int main_goroutine(void *arg) {
    (void)arg;
    gort_chan *c = gort_chan_make(sizeof(int), 1);
    gort_chan *c2 = gort_chan_make(sizeof(int), 4);
    gort_chan *wrong = gort_chan_make(sizeof(long long), 1);

    /* Argument checks. */
    CHECK_EQ(gort_signal_notify(NULL, SIGUSR1), GORT_EINVAL);
    CHECK_EQ(gort_signal_notify(wrong, SIGUSR1), GORT_EINVAL);
    const int refused[] = {0, -1, 65, SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) CHECK_EQ(gort_signal_notify(c, refused[i]), GORT_EINVAL);
    CHECK_EQ(gort_signal_stop(NULL), GORT_EINVAL);
    CHECK_EQ(gort_signal_stop(wrong), 0); /* listened to nothing: fine */

    /* raise: delivered on c. SIGUSR1's default action (terminate) no longer happens. */
    CHECK_EQ(gort_signal_notify(c, SIGUSR1), 0);
    CHECK_EQ(gort_signal_notify(c, SIGUSR1), 0); /* twice: harmless */
    CHECK_EQ(raise(SIGUSR1), 0);
    CHECK_EQ(recv_int(c), SIGUSR1);

    /* From another process. */
    pid_t parent = getpid();
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        kill(parent, SIGUSR1);
        _exit(0);
    }
    CHECK_EQ(recv_int(c), SIGUSR1);
    int st;
    CHECK(waitpid(child, &st, 0) == child && WIFEXITED(st));

    /* A full channel drops the signal instead of blocking delivery: later ones arrive.
     * Its own channel and signal, so that a late delivery of the burst cannot reach the
     * checks below (deliveries are asynchronous, as in Go). */
    gort_chan *burst = gort_chan_make(sizeof(int), 1);
    CHECK_EQ(gort_signal_notify(burst, SIGWINCH), 0);
    for (int i = 0; i < 5; i++) CHECK_EQ(raise(SIGWINCH), 0);
    CHECK_EQ(recv_int(burst), SIGWINCH);
    CHECK_EQ(raise(SIGWINCH), 0);
    CHECK_EQ(recv_int(burst), SIGWINCH);
    CHECK_EQ(gort_signal_stop(burst), 0);
    gort_chan_release(burst);

    /* Two channels for one signal, one channel for two signals. */
    CHECK_EQ(gort_signal_notify(c2, SIGUSR1), 0);
    CHECK_EQ(gort_signal_notify(c2, SIGUSR2), 0);
    CHECK_EQ(raise(SIGUSR2), 0);
    CHECK_EQ(recv_int(c2), SIGUSR2);
    CHECK_EQ(raise(SIGUSR1), 0);
    CHECK_EQ(recv_int(c), SIGUSR1);
    CHECK_EQ(recv_int(c2), SIGUSR1);
    CHECK_EQ(gort_signal_stop(c2), 0);
    gort_chan_release(c2); /* the registration's reference is gone too */

    CHECK_EQ(gort_signal_stop(c), 0);

    /* The program's own handler keeps running while a channel listens, and is back in
     * charge alone after stop. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = own_handler;
    CHECK(sigaction(SIGHUP, &sa, NULL) == 0);
    CHECK_EQ(gort_signal_notify(c, SIGHUP), 0);
    CHECK_EQ(raise(SIGHUP), 0);
    CHECK_EQ(recv_int(c), SIGHUP);
    CHECK_EQ(own_handler_calls, 1);
    CHECK_EQ(gort_signal_stop(c), 0);
    CHECK_EQ(raise(SIGHUP), 0);
    CHECK_EQ(own_handler_calls, 2);
    int v;
    CHECK_EQ(gort_chan_recv_until(c, &v, 0), GORT_EAGAIN); /* nothing after stop */

    /* SIGTERM, the clean-shutdown case. */
    CHECK_EQ(gort_signal_notify(c, SIGTERM), 0);
    CHECK_EQ(kill(getpid(), SIGTERM), 0);
    CHECK_EQ(recv_int(c), SIGTERM);
    CHECK_EQ(gort_signal_stop(c), 0);

    gort_chan_release(wrong);
    gort_chan_release(c);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
