// Timers freed while they fire: on every P (and from a thread the runtime does not own),
// goroutines put short timers on the heaps (a select that blocks on them) and free or
// release them right when they come due, so that a P or the timer waiter fires the heap
// entry while the timer and its channel go away: gort_after channels released, timers and
// tickers freed, AfterFunc timers stopped and freed. Nothing may crash or touch freed
// memory (valgrind and ASan variants), and an AfterFunc runs exactly when Stop said it
// would.
// VALGRIND: yes
// ASAN: yes
// TSAN: yes
// TIMEOUT: 240
#include "check.h"
#include "gort.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

static const int64_t US = 1000;

enum { ROUNDS = 5000 };

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* A few microseconds, sometimes none. */
static int64_t short_ns(uint64_t *seed) { return (int64_t)(rng_next(seed) % 30) * US; }

static void spin_for(int64_t ns) {
    int64_t end = gort_now() + ns;
    while (gort_now() < end) {
    }
}

/* AfterFunc runs, and what Stop results predict: case 3 exactly, case 4 within bounds. */
typedef struct {
    atomic_int runs, expected, extra;
} func_count;
static func_count stopped_then_freed, freed_pending;

static void func_run(void *arg) { atomic_fetch_add(&((func_count *)arg)->runs, 1); }

/* Waits on `c` (a timer channel) until about its deadline: the receive pushes the timer on
 * a heap, and a deadline near the timer's makes either side win. */
static void wait_on(gort_chan *c, int64_t ns, uint64_t *seed) {
    int64_t v;
    gort_case cs[1] = {{.chan = c, .dir = GORT_RECV, .elem = &v}};
    int64_t slack = (int64_t)(rng_next(seed) % 20) * US;
    int r = gort_select(cs, 1, gort_deadline_in(ns > slack ? ns - slack : 1));
    CHECK(r == 0 || r == GORT_ETIMEDOUT || r == GORT_EAGAIN);
    if (r == 0) CHECK_EQ(cs[0].ok, 1);
}

static void rounds(uint64_t seed, int n) {
    for (int i = 0; i < n; i++) {
        int64_t ns = short_ns(&seed);
        switch (rng_next(&seed) % 5) {
        case 0: { /* gort_after released around its firing */
            gort_chan *a = gort_after(ns);
            CHECK(a != NULL);
            wait_on(a, ns, &seed);
            gort_chan_release(a);
            break;
        }
        case 1: { /* a timer freed around its firing */
            gort_timer *t = gort_timer_new(ns);
            CHECK(t != NULL);
            wait_on(gort_timer_chan(t), ns, &seed);
            if (i & 1) gort_timer_reset(t, short_ns(&seed));
            gort_timer_free(t);
            break;
        }
        case 2: { /* a fast ticker freed while it ticks */
            gort_ticker *tk = gort_ticker_new(ns + 1);
            CHECK(tk != NULL);
            wait_on(gort_ticker_chan(tk), ns, &seed);
            if (i & 1) gort_ticker_stop(tk);
            wait_on(gort_ticker_chan(tk), ns, &seed);
            gort_ticker_free(tk);
            break;
        }
        case 3: { /* an AfterFunc stopped and freed around its firing */
            func_count *fc = &stopped_then_freed;
            gort_timer *f = gort_after_func(ns, func_run, fc);
            CHECK(f != NULL);
            spin_for(ns);
            if (gort_timer_stop(f) == 0) atomic_fetch_add(&fc->expected, 1);
            gort_timer_free(f);
            break;
        }
        default: { /* an AfterFunc freed without a stop: freeing stops it too */
            func_count *fc = &freed_pending;
            gort_timer *f = gort_after_func(ns, func_run, fc);
            CHECK(f != NULL);
            spin_for(ns);
            if (gort_timer_stop(f) == 0) atomic_fetch_add(&fc->expected, 1);
            gort_timer_reset(f, ns); /* armed again, then freed while pending or firing: */
            atomic_fetch_add(&fc->extra, 1); /* that schedule may run or not */
            spin_for(ns);
            gort_timer_free(f);
            break;
        }
        }
    }
}

static gort_waitgroup wg;

static void worker(void *arg) {
    rounds(0x9e3779b97f4a7c15ULL * ((uint64_t)(uintptr_t)arg + 1), ROUNDS);
    gort_waitgroup_done(&wg);
}

static void *foreign(void *arg) {
    rounds(0x2545f4914f6cdd1dULL + (uint64_t)(uintptr_t)arg, ROUNDS / 5);
    return NULL;
}

static int main_goroutine(void *arg) {
    (void)arg;
    int workers = 2 * gort_gomaxprocs(0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, foreign, (void *)3), 0);
    gort_waitgroup_add(&wg, workers);
    for (int w = 0; w < workers; w++) CHECK_EQ(gort_go(worker, (void *)(intptr_t)w), 0);
    gort_waitgroup_wait(&wg);
    CHECK_EQ(pthread_join(th, NULL), 0);
    /* Every AfterFunc that Stop could not stop runs, and none that Stop stopped; a
     * schedule that was freed pending may run only if the free lost the race. */
    int64_t give_up = gort_deadline_in(60LL * 1000000000LL);
    while ((atomic_load(&stopped_then_freed.runs) < atomic_load(&stopped_then_freed.expected) ||
            atomic_load(&freed_pending.runs) < atomic_load(&freed_pending.expected)) &&
           gort_now() < give_up)
        gort_sleep(1000000);
    gort_sleep(20000000); /* a run that should not happen has had time to show */
    CHECK_EQ(atomic_load(&stopped_then_freed.runs), atomic_load(&stopped_then_freed.expected));
    CHECK(atomic_load(&freed_pending.runs) >= atomic_load(&freed_pending.expected));
    CHECK(atomic_load(&freed_pending.runs) <= atomic_load(&freed_pending.expected) + atomic_load(&freed_pending.extra));
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
