// Select with several cases on one channel, once it has blocked: the case a waker
// completes is a uniformly random one of them, as in Go (its TestPseudoRandomSend, plus a
// receive-side variant and mixes of channels). With one P the selecting goroutine always
// blocks before its partner arrives, which is the path this pins down; the same checks
// then run on every P. Each check asserts that every eligible case completed at least a
// tenth of the trials: for a fair choice among at most 3 cases in 300 trials that fails
// with probability below 1e-12.
// VALGRIND: yes
// ASAN: yes
// TSAN: yes
// TIMEOUT: 240
#include "check.h"
#include "gort.h"

#include <stdint.h>

enum { TRIALS = 300, MAX_CASES = 4 };

/* --- TestPseudoRandomSend: select { case c <- 1: case c <- 0: } ------------------------ */

typedef struct {
    gort_chan *c;
    int n;
    int *got;
    gort_waitgroup *wg;
} receiver_arg;

static void receiver(void *p) {
    receiver_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        gort_gosched(); /* let the sender block in its select first */
        CHECK_EQ(gort_chan_recv(a->c, &a->got[i]), 1);
    }
    gort_waitgroup_done(a->wg);
}

static void pseudo_random_send(size_t cap) {
    static int got[TRIALS];
    gort_chan *c = gort_chan_make(sizeof(int), cap);
    gort_waitgroup wg = {0};
    receiver_arg a = {.c = c, .n = TRIALS, .got = got, .wg = &wg};
    gort_waitgroup_add(&wg, 1);
    CHECK_EQ(gort_go(receiver, &a), 0);
    int one = 1, zero = 0;
    for (int i = 0; i < TRIALS; i++) {
        gort_case cs[2] = {
            {.chan = c, .dir = GORT_SEND, .elem = &one},
            {.chan = c, .dir = GORT_SEND, .elem = &zero},
        };
        int r = gort_select(cs, 2, GORT_FOREVER);
        CHECK(r == 0 || r == 1);
    }
    gort_waitgroup_wait(&wg);
    int n0 = 0, n1 = 0;
    for (int i = 0; i < TRIALS; i++) {
        CHECK(got[i] == 0 || got[i] == 1);
        if (got[i] == 0) n0++; else n1++;
    }
    if (n0 <= TRIALS / 10 || n1 <= TRIALS / 10) {
        fprintf(stderr, "want pseudorandom, got %d zeros and %d ones (cap %zu)\n", n0, n1, cap);
        CHECK(0);
    }
    gort_chan_release(c);
}

/* --- the receive side, and cases mixed with other channels ---------------------------- */

typedef struct {
    gort_chan *c;
    int n;
    gort_waitgroup *wg;
} sender_arg;

static void sender(void *p) {
    sender_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        gort_gosched(); /* let the receiver block in its select first */
        CHECK_EQ(gort_chan_send(a->c, &i), 0);
    }
    gort_waitgroup_done(a->wg);
}

/* A select whose cases receive from chans[pattern[k]] (pattern ends with -1); a partner
 * sends on chans[0] only. Every case on chans[0] must complete in at least a tenth of the
 * trials, and no other case ever. */
static void blocked_recv(const int *pattern) {
    gort_chan *chans[2] = {gort_chan_make(sizeof(int), 0), gort_chan_make(sizeof(int), 0)};
    int n = 0, eligible = 0;
    while (pattern[n] >= 0) {
        if (pattern[n] == 0) eligible++;
        n++;
    }
    CHECK(n <= MAX_CASES && eligible >= 2);
    gort_waitgroup wg = {0};
    sender_arg a = {.c = chans[0], .n = TRIALS, .wg = &wg};
    gort_waitgroup_add(&wg, 1);
    CHECK_EQ(gort_go(sender, &a), 0);
    int count[MAX_CASES] = {0};
    for (int i = 0; i < TRIALS; i++) {
        int v = -1;
        gort_case cs[MAX_CASES];
        for (int k = 0; k < n; k++)
            cs[k] = (gort_case){.chan = chans[pattern[k]], .dir = GORT_RECV, .elem = &v, .ok = -1};
        int r = gort_select(cs, (size_t)n, GORT_FOREVER);
        CHECK(r >= 0 && r < n);
        CHECK_EQ(pattern[r], 0);
        CHECK_EQ(cs[r].ok, 1);
        CHECK_EQ(v, i);
        count[r]++;
    }
    gort_waitgroup_wait(&wg);
    for (int k = 0; k < n; k++) {
        if (pattern[k] != 0) continue;
        if (count[k] <= TRIALS / 10) {
            fprintf(stderr, "case %d of a %d-case select completed %d of %d times\n", k, n, count[k], TRIALS);
            CHECK(0);
        }
    }
    gort_chan_release(chans[0]);
    gort_chan_release(chans[1]);
}

static void run_all(void) {
    pseudo_random_send(0);
    pseudo_random_send(TRIALS);
    static const int patterns[][MAX_CASES + 1] = {
        {0, 0, -1},
        {0, 0, 0, -1},
        {0, 1, 0, -1},
        {1, 0, 0, -1},
        {0, 0, 1, -1},
        {0, 1, 0, 1, -1},
        {1, 0, 1, 0, -1},
        {0, 1, 1, 0, -1},
    };
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++) blocked_recv(patterns[i]);
}

static int main_goroutine(void *arg) {
    (void)arg;
    int procs = gort_gomaxprocs(1); /* every select blocks before its partner comes */
    run_all();
    gort_gomaxprocs(procs);
    run_all(); /* and on every P: blocked or not, the choice stays fair */
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
