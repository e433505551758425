// A goroutine blocked until a long but finite deadline is not deadlocked, as in Go (a
// goroutine in time.Sleep(math.MaxInt64) is never reported: a pending timer means the
// program can still make progress). Each case runs in a child process whose only
// goroutine blocks until a deadline ~292 years away; a SIGALRM a second later ends the
// child with status 0. Before the fix the deadlines that saturated to INT64_MAX were
// taken for "no deadline", and those children died at once with "all goroutines are
// asleep" (status 2). The last case checks that GORT_FOREVER still is a deadlock.
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static void on_alarm(int sig) {
    (void)sig;
    _exit(0);
}

static int sleep_max(void *arg) {
    (void)arg;
    gort_sleep(INT64_MAX);
    return 1;
}

static int sleep_until_max_minus_1(void *arg) {
    (void)arg;
    gort_sleep_until(INT64_MAX - 1);
    return 1;
}

static int sleep_until_max(void *arg) {
    (void)arg;
    gort_sleep_until(INT64_MAX);
    return 1;
}

static int recv_until_max(void *arg) {
    (void)arg;
    gort_chan *c = gort_chan_make(sizeof(int), 0);
    int v;
    gort_chan_recv_until(c, &v, INT64_MAX);
    return 1;
}

static int send_until_max_minus_1(void *arg) {
    (void)arg;
    gort_chan *c = gort_chan_make(sizeof(int), 0);
    int v = 1;
    gort_chan_send_until(c, &v, INT64_MAX - 1);
    return 1;
}

static int select_until_max(void *arg) {
    (void)arg;
    gort_chan *c = gort_chan_make(sizeof(int), 0);
    int v;
    gort_case cs[1] = {{.chan = c, .dir = GORT_RECV, .elem = &v}};
    gort_select(cs, 1, INT64_MAX);
    return 1;
}

static int sema_until_max(void *arg) {
    (void)arg;
    static gort_sema s;
    gort_sema_acquire(&s, 1, INT64_MAX);
    return 1;
}

static int sleep_forever(void *arg) {
    (void)arg;
    gort_sleep_until(GORT_FOREVER);
    return 1;
}

static const struct {
    const char *name;
    int (*fn)(void *);
    int want_status;
} cases[] = {
    {"gort_sleep(INT64_MAX)", sleep_max, 0},
    {"gort_sleep_until(INT64_MAX - 1)", sleep_until_max_minus_1, 0},
    {"gort_sleep_until(INT64_MAX)", sleep_until_max, 0},
    {"gort_chan_recv_until(INT64_MAX)", recv_until_max, 0},
    {"gort_chan_send_until(INT64_MAX - 1)", send_until_max_minus_1, 0},
    {"gort_select(INT64_MAX)", select_until_max, 0},
    {"gort_sema_acquire(INT64_MAX)", sema_until_max, 0},
    {"gort_sleep_until(GORT_FOREVER)", sleep_forever, 2},
};

enum { NCASES = sizeof cases / sizeof cases[0] };

int main(void) {
    pid_t pids[NCASES];
    for (int i = 0; i < NCASES; i++) {
        pids[i] = fork();
        CHECK(pids[i] >= 0);
        if (pids[i] == 0) {
            struct sigaction sa;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_alarm;
            CHECK_EQ(sigaction(SIGALRM, &sa, NULL), 0);
            /* The deadlock case must be reported well before this; the others wait for it. */
            alarm(cases[i].want_status == 0 ? 1 : 30);
            if (cases[i].want_status != 0) {
                /* The expected deadlock report would only confuse a reader of the log. */
                CHECK(freopen("/dev/null", "w", stderr) != NULL);
            }
            int r = gort_main(cases[i].fn, NULL);
            _exit(r == 0 ? 3 : r);
        }
    }
    int failed = 0;
    for (int i = 0; i < NCASES; i++) {
        int st;
        CHECK_EQ(waitpid(pids[i], &st, 0), pids[i]);
        int got = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (got != cases[i].want_status) {
            fprintf(stderr, "%s: child exited with %d, want %d\n", cases[i].name, got, cases[i].want_status);
            failed = 1;
        }
    }
    CHECK(!failed);
    return 0;
}
