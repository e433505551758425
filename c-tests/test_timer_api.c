// Timers and tickers through the header, with Go 1.23+ semantics (the expected results are
// what Go 1.26 prints for the same steps): gort_after, gort_timer_*, gort_after_func and
// gort_ticker_* basics; Stop/Reset results; no value of an old schedule received after
// Stop/Reset returns, raced against firing on every P and from a foreign thread; select on
// timer channels; many timers; a ticker that keeps ticking while every P is busy; use
// from threads the runtime does not own; freeing pending timers; NULL arguments.
// No upper bounds on timing anywhere: only "not before the deadline" and ordering.
// VALGRIND: yes
// ASAN: yes
// TSAN: yes
// TIMEOUT: 240
#include "check.h"
#include "gort.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

static const int64_t US = 1000;
static const int64_t MS = 1000000;
static const int64_t HOUR = 3600LL * 1000000000LL;

/* A non-blocking receive: 1 with a value, GORT_EAGAIN without. */
static int recv_now(gort_chan *c, int64_t *v) { return gort_chan_recv_until(c, v, 0); }

static void spin_for(int64_t ns) {
    int64_t end = gort_now() + ns;
    while (gort_now() < end) {
    }
}

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* --- basics ---------------------------------------------------------------------------- */

static atomic_int func_runs;
static atomic_int func_bad_goid;
static gort_waitgroup func_wg;

static void count_run(void *arg) {
    (void)arg;
    if (gort_goid() <= 0) atomic_fetch_add(&func_bad_goid, 1); /* runs in a goroutine */
    atomic_fetch_add(&func_runs, 1);
    gort_waitgroup_done(&func_wg);
}

static void check_basics(void) {
    int64_t v = 0;
    /* gort_after: one value, the firing time, not before the deadline. */
    int64_t t0 = gort_now();
    gort_chan *a = gort_after(2 * MS);
    CHECK(a != NULL);
    CHECK_EQ(gort_chan_len(a), 0);
    CHECK_EQ(gort_chan_cap(a), 0);
    CHECK_EQ(gort_chan_recv(a, &v), 1);
    CHECK(v >= t0 + 2 * MS);
    CHECK(gort_now() >= t0 + 2 * MS);
    CHECK_EQ(recv_now(a, &v), GORT_EAGAIN);
    gort_chan_release(a);
    /* Released before it fires: the timer holds its own reference. */
    for (int i = 0; i < 100; i++) gort_chan_release(gort_after((i % 10) * 100 * US));
    /* Zero and negative durations are due at once: a receive right away gets the value. */
    a = gort_after(0);
    CHECK_EQ(recv_now(a, &v), 1);
    gort_chan_release(a);
    a = gort_after(-5);
    CHECK_EQ(recv_now(a, &v), 1);
    gort_chan_release(a);

    /* gort_timer_new. */
    t0 = gort_now();
    gort_timer *t = gort_timer_new(2 * MS);
    CHECK(t != NULL);
    gort_chan *c = gort_timer_chan(t);
    CHECK(c != NULL);
    CHECK(gort_timer_chan(t) == c);
    CHECK_EQ(gort_chan_len(c), 0);
    CHECK_EQ(gort_chan_cap(c), 0);
    CHECK_EQ(gort_chan_recv(c, &v), 1);
    CHECK(v >= t0 + 2 * MS);
    CHECK_EQ(recv_now(c, &v), GORT_EAGAIN);
    gort_timer_free(t);
    t = gort_timer_new(0);
    CHECK_EQ(recv_now(gort_timer_chan(t), &v), 1);
    gort_timer_free(t);
    t = gort_timer_new(-5);
    CHECK_EQ(recv_now(gort_timer_chan(t), &v), 1);
    gort_timer_free(t);

    /* gort_after_func: fn runs once, in a goroutine; no channel. */
    atomic_store(&func_runs, 0);
    gort_waitgroup_add(&func_wg, 1);
    t = gort_after_func(1 * MS, count_run, NULL);
    CHECK(t != NULL);
    CHECK(gort_timer_chan(t) == NULL);
    gort_waitgroup_wait(&func_wg);
    CHECK_EQ(atomic_load(&func_runs), 1);
    CHECK_EQ(gort_timer_stop(t), 0);
    gort_timer_free(t);

    /* gort_ticker: strictly increasing tick times, the k-th not before k periods. */
    t0 = gort_now();
    gort_ticker *tk = gort_ticker_new(1 * MS);
    CHECK(tk != NULL);
    c = gort_ticker_chan(tk);
    CHECK(c != NULL);
    CHECK_EQ(gort_chan_len(c), 0);
    CHECK_EQ(gort_chan_cap(c), 0);
    int64_t prev = 0;
    for (int k = 1; k <= 5; k++) {
        CHECK_EQ(gort_chan_recv(c, &v), 1);
        CHECK(v > prev);
        CHECK(v >= t0 + k * MS);
        prev = v;
    }
    gort_ticker_free(tk);
}

/* --- Stop/Reset results, as Go 1.23+ returns them -------------------------------------- */

/* errno checks live in functions of their own that do not block: glibc declares
 * __errno_location() const, so the compiler may reuse its result across a blocking call
 * after which this goroutine runs on another thread (see README, "Threads, errno"). */
__attribute__((noinline)) static void check_ticker_new_einval(int64_t period) {
    errno = 0;
    CHECK(gort_ticker_new(period) == NULL);
    CHECK_EQ(errno, EINVAL);
}

static void reset_zero_period(void *arg) { gort_ticker_reset(arg, 0); }
static void reset_negative_period(void *arg) { gort_ticker_reset(arg, -1); }

static void check_go_semantics(void) {
    int64_t v;
    /* Go: "1 stop after expiry, no receive: true", nothing received after, second Stop false. */
    gort_timer *t = gort_timer_new(1 * MS);
    gort_chan *c = gort_timer_chan(t);
    gort_sleep(20 * MS);
    CHECK_EQ(gort_timer_stop(t), 1);
    CHECK_EQ(recv_now(c, &v), GORT_EAGAIN);
    CHECK_EQ(gort_timer_stop(t), 0);
    gort_timer_free(t);

    /* "2 stop pending: true stop again: false" */
    t = gort_timer_new(HOUR);
    CHECK_EQ(gort_timer_stop(t), 1);
    CHECK_EQ(gort_timer_stop(t), 0);
    gort_timer_free(t);

    /* "3 stop after receive: false" */
    t = gort_timer_new(1 * MS);
    CHECK_EQ(gort_chan_recv(gort_timer_chan(t), &v), 1);
    CHECK_EQ(gort_timer_stop(t), 0);
    gort_timer_free(t);

    /* "4a reset pending: true", "4b reset fired-not-received: true" and no stale value,
     * "4c reset stopped: false", "4d reset after receive: false", then it fires again. */
    t = gort_timer_new(HOUR);
    c = gort_timer_chan(t);
    CHECK_EQ(gort_timer_reset(t, 1 * MS), 1);
    gort_sleep(20 * MS);
    CHECK_EQ(gort_timer_reset(t, HOUR), 1);
    CHECK_EQ(recv_now(c, &v), GORT_EAGAIN);
    CHECK_EQ(gort_timer_stop(t), 1);
    CHECK_EQ(gort_timer_reset(t, 1 * MS), 0);
    CHECK_EQ(gort_chan_recv(c, &v), 1);
    int64_t t0 = gort_now();
    CHECK_EQ(gort_timer_reset(t, 1 * MS), 0);
    CHECK_EQ(gort_chan_recv(c, &v), 1);
    CHECK(v >= t0 + 1 * MS);

    /* "5 len/cap pending: 0 0", "fired: 0 0" (ticker and After: above). */
    CHECK_EQ(gort_timer_reset(t, 1 * MS), 0);
    CHECK_EQ(gort_chan_len(c), 0);
    CHECK_EQ(gort_chan_cap(c), 0);
    gort_sleep(5 * MS);
    CHECK_EQ(gort_chan_len(c), 0);
    CHECK_EQ(gort_chan_cap(c), 0);
    CHECK_EQ(gort_chan_recv(c, &v), 1);

    /* "6 reset(0) fired"; "E Reset(-1) immediate: value". */
    CHECK_EQ(gort_timer_reset(t, HOUR), 0);
    CHECK_EQ(gort_timer_reset(t, 0), 1);
    CHECK_EQ(gort_chan_recv(c, &v), 1);
    CHECK_EQ(gort_timer_reset(t, HOUR), 0);
    CHECK_EQ(gort_timer_reset(t, -1), 1);
    CHECK_EQ(recv_now(c, &v), 1);

    /* "B expired-not-run nonblocking recv: value": the deadline passed while this goroutine
     * kept its P busy; the receive itself fires the timer. "D Stop after expiry (not run,
     * busy): true". */
    CHECK_EQ(gort_timer_reset(t, 1 * MS), 0);
    spin_for(3 * MS);
    CHECK_EQ(recv_now(c, &v), 1);
    CHECK_EQ(gort_timer_reset(t, 1 * MS), 0);
    spin_for(3 * MS);
    CHECK_EQ(gort_timer_stop(t), 1);
    CHECK_EQ(recv_now(c, &v), GORT_EAGAIN);
    gort_timer_free(t);

    /* "7 AfterFunc stop pending: true again: false", "reset stopped: false", "stop after
     * ran: false", "reset after ran: false", "reset pending: true", C is nil. */
    atomic_store(&func_runs, 0);
    t = gort_after_func(HOUR, count_run, NULL);
    CHECK(gort_timer_chan(t) == NULL);
    CHECK_EQ(gort_timer_stop(t), 1);
    CHECK_EQ(gort_timer_stop(t), 0);
    gort_waitgroup_add(&func_wg, 1);
    CHECK_EQ(gort_timer_reset(t, 1 * MS), 0);
    gort_waitgroup_wait(&func_wg);
    CHECK_EQ(gort_timer_stop(t), 0);
    CHECK_EQ(gort_timer_reset(t, HOUR), 0);
    gort_waitgroup_add(&func_wg, 1);
    CHECK_EQ(gort_timer_reset(t, 1 * MS), 1);
    gort_waitgroup_wait(&func_wg);
    CHECK_EQ(atomic_load(&func_runs), 2);
    gort_timer_free(t);

    /* Ticker: "F ticker expired nonblocking: value"; "T3 stale tick after Reset: no". */
    gort_ticker *tk = gort_ticker_new(1 * MS);
    c = gort_ticker_chan(tk);
    spin_for(3 * MS);
    CHECK_EQ(recv_now(c, &v), 1);
    gort_sleep(5 * MS);
    gort_ticker_reset(tk, HOUR);
    CHECK_EQ(recv_now(c, &v), GORT_EAGAIN);
    t0 = gort_now();
    gort_ticker_reset(tk, 2 * MS); /* restarts on the new period */
    CHECK_EQ(gort_chan_recv(c, &v), 1);
    CHECK(v >= t0 + 2 * MS);

    /* "T1": a slow receiver finds one tick waiting (the rest were dropped), then ticks on
     * schedule: not the twenty that came due while it slept. */
    const int64_t period = 2 * MS;
    gort_ticker_reset(tk, period);
    gort_sleep(20 * period);
    int64_t d0 = gort_now(), first = 0;
    int n = 0;
    while (recv_now(c, &v) == 1) {
        if (n == 0) first = v;
        n++;
    }
    int64_t d1 = gort_now();
    CHECK(n >= 1);
    CHECK(n <= 3 + (d1 - d0) / period); /* buffered + overdue + those due meanwhile */
    CHECK_EQ(gort_chan_recv(c, &v), 1);
    CHECK(v > first);

    /* "T5 Reset(0) panic: non-positive interval for Ticker.Reset", also for -1; the ticker
     * is unchanged. "NewTicker(0)/(-1)" panic in Go; here NULL with errno EINVAL. */
    const char *msg = NULL;
    CHECK_EQ(gort_protect(reset_zero_period, tk, &msg), 1);
    CHECK(msg != NULL && strcmp(msg, "non-positive interval for Ticker.Reset") == 0);
    msg = NULL;
    CHECK_EQ(gort_protect(reset_negative_period, tk, &msg), 1);
    CHECK(msg != NULL && strcmp(msg, "non-positive interval for Ticker.Reset") == 0);
    CHECK_EQ(gort_chan_recv(c, &v), 1);
    gort_ticker_free(tk);
    check_ticker_new_einval(0);
    check_ticker_new_einval(-1);
}

/* --- races: Stop/Reset against firing, on every P -------------------------------------- */

typedef struct {
    gort_chan *c;
    int got;
    gort_waitgroup wg;
} race_recv;

static void race_receiver(void *arg) {
    race_recv *r = arg;
    int64_t v;
    r->got = gort_chan_recv_until(r->c, &v, gort_deadline_in(200 * US)) == 1;
    gort_waitgroup_done(&r->wg);
}

static atomic_int race_stop_true, race_received;

/* One timer per round, a goroutine receiving with a short deadline, and Stop or Reset at a
 * random moment. Go 1.23+: exactly one of "the receiver got the value" and "Stop/Reset
 * returned 1" holds, and nothing can be received afterwards. */
static void race_timers(uint64_t seed, int rounds) {
    race_recv r = {0};
    for (int i = 0; i < rounds; i++) {
        gort_timer *t = gort_timer_new((int64_t)(rng_next(&seed) % 100) * US);
        r.c = gort_timer_chan(t);
        r.got = 0;
        gort_waitgroup_add(&r.wg, 1);
        CHECK_EQ(gort_go(race_receiver, &r), 0);
        if (i % 3 == 0) gort_gosched();
        spin_for((int64_t)(rng_next(&seed) % 100) * US);
        int res = (i & 1) ? gort_timer_reset(t, HOUR) : gort_timer_stop(t);
        CHECK(res == 0 || res == 1);
        gort_waitgroup_wait(&r.wg);
        CHECK_EQ(res + r.got, 1);
        int64_t v;
        CHECK_EQ(recv_now(r.c, &v), GORT_EAGAIN);
        if (i & 1) CHECK_EQ(gort_timer_stop(t), 1); /* the hour-long timer is pending */
        atomic_fetch_add(&race_stop_true, res);
        atomic_fetch_add(&race_received, r.got);
        gort_timer_free(t);
    }
}

typedef struct {
    gort_chan *c;
    atomic_int reset_done;
    atomic_int quit;
    atomic_int stale;
    gort_waitgroup wg;
} tick_race;

static void tick_receiver(void *arg) {
    tick_race *r = arg;
    int64_t v;
    while (!atomic_load(&r->quit)) {
        int done = atomic_load(&r->reset_done);
        int rc = gort_chan_recv_until(r->c, &v, gort_deadline_in(100 * US));
        if (rc == 1 && done) atomic_fetch_add(&r->stale, 1); /* began after the Reset */
    }
    gort_waitgroup_done(&r->wg);
}

/* A fast ticker with a busy receiver, reset to an hour at a random moment: no receive that
 * starts after the Reset returns gets a tick. */
static void race_tickers(uint64_t seed, int rounds) {
    tick_race r;
    memset(&r, 0, sizeof r);
    for (int i = 0; i < rounds; i++) {
        gort_ticker *tk = gort_ticker_new((int64_t)(1 + rng_next(&seed) % 50) * US);
        r.c = gort_ticker_chan(tk);
        atomic_store(&r.reset_done, 0);
        atomic_store(&r.quit, 0);
        gort_waitgroup_add(&r.wg, 1);
        CHECK_EQ(gort_go(tick_receiver, &r), 0);
        gort_gosched();
        spin_for((int64_t)(rng_next(&seed) % 200) * US);
        gort_ticker_reset(tk, HOUR);
        atomic_store(&r.reset_done, 1);
        int64_t v;
        CHECK_EQ(recv_now(r.c, &v), GORT_EAGAIN);
        gort_sleep((int64_t)(rng_next(&seed) % 300) * US);
        atomic_store(&r.quit, 1);
        gort_waitgroup_wait(&r.wg);
        CHECK_EQ(recv_now(r.c, &v), GORT_EAGAIN);
        gort_ticker_free(tk);
    }
    CHECK_EQ(atomic_load(&r.stale), 0);
}

enum { RACE_ROUNDS = 3000, TICK_ROUNDS = 300 };
static gort_waitgroup race_wg;

static void race_worker(void *arg) {
    uint64_t seed = 0x9e3779b97f4a7c15ULL * (uint64_t)((uintptr_t)arg + 1);
    race_timers(seed, RACE_ROUNDS);
    race_tickers(seed, TICK_ROUNDS);
    gort_waitgroup_done(&race_wg);
}

static void *race_thread(void *arg) {
    uint64_t seed = 0x2545f4914f6cdd1dULL + (uint64_t)(uintptr_t)arg;
    race_timers(seed, RACE_ROUNDS / 3); /* Stop/Reset from a thread the runtime does not own */
    race_tickers(seed, TICK_ROUNDS / 3);
    return NULL;
}

static void check_races(void) {
    int workers = 2 * gort_gomaxprocs(0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, race_thread, (void *)7), 0);
    gort_waitgroup_add(&race_wg, workers);
    for (int w = 0; w < workers; w++) CHECK_EQ(gort_go(race_worker, (void *)(intptr_t)w), 0);
    gort_waitgroup_wait(&race_wg);
    CHECK_EQ(pthread_join(th, NULL), 0);
    /* Both outcomes happened (the race was real), and they account for every round. */
    int total = workers * RACE_ROUNDS + RACE_ROUNDS / 3;
    CHECK_EQ(atomic_load(&race_stop_true) + atomic_load(&race_received), total);
    CHECK(atomic_load(&race_stop_true) > 0);
}

/* --- select on timer channels ---------------------------------------------------------- */

static void check_select(void) {
    int64_t v1 = 0, v2 = 0;
    gort_timer *slow = gort_timer_new(HOUR);
    gort_case cs[2] = {
        {.chan = gort_timer_chan(slow), .dir = GORT_RECV, .elem = &v1},
        {.chan = NULL, .dir = GORT_RECV, .elem = &v2},
    };
    CHECK_EQ(gort_select(cs, 1, 0), GORT_EAGAIN); /* nothing due: default */
    int64_t t0 = gort_now();
    gort_timer *fast = gort_timer_new(2 * MS);
    cs[1].chan = gort_timer_chan(fast);
    CHECK_EQ(gort_select(cs, 2, GORT_FOREVER), 1);
    CHECK_EQ(cs[1].ok, 1);
    CHECK(v2 >= t0 + 2 * MS);
    /* A stopped timer never fires into a select. */
    CHECK_EQ(gort_timer_stop(slow), 1);
    CHECK_EQ(gort_select(cs, 2, gort_deadline_in(20 * MS)), GORT_ETIMEDOUT);
    /* A due timer fires into a non-blocking select (the select runs it). */
    CHECK_EQ(gort_timer_reset(fast, 0), 0);
    CHECK_EQ(gort_select(cs, 2, 0), 1);
    /* gort_after against a channel nobody sends on. */
    gort_chan *never = gort_chan_make(sizeof(int64_t), 0);
    gort_chan *a = gort_after(1 * MS);
    gort_case ca[2] = {
        {.chan = never, .dir = GORT_RECV, .elem = &v1},
        {.chan = a, .dir = GORT_RECV, .elem = &v2},
    };
    CHECK_EQ(gort_select(ca, 2, GORT_FOREVER), 1);
    gort_chan_release(a);
    gort_chan_release(never);
    /* A ticker and a timer in one select loop: ticks come in order until the timer. */
    gort_ticker *tk = gort_ticker_new(1 * MS);
    CHECK_EQ(gort_timer_reset(fast, 10 * MS), 0);
    gort_case ct[2] = {
        {.chan = gort_ticker_chan(tk), .dir = GORT_RECV, .elem = &v1},
        {.chan = gort_timer_chan(fast), .dir = GORT_RECV, .elem = &v2},
    };
    int64_t prev = 0;
    for (;;) {
        int i = gort_select(ct, 2, GORT_FOREVER);
        if (i == 1) break;
        CHECK_EQ(i, 0);
        CHECK(v1 > prev);
        prev = v1;
    }
    gort_ticker_free(tk);
    gort_timer_free(slow);
    gort_timer_free(fast);
}

/* --- many timers ----------------------------------------------------------------------- */

enum { MANY = 10000, AFTER_GOROUTINES = 1000, FUNCS = 2000 };
static gort_timer *many[MANY];
static int64_t many_deadline[MANY];
static gort_waitgroup many_wg;
static atomic_int yield_quit;

static void after_waiter(void *arg) {
    int64_t ns = (int64_t)(intptr_t)arg, v;
    int64_t d = gort_now() + ns;
    gort_chan *a = gort_after(ns);
    CHECK_EQ(gort_chan_recv(a, &v), 1);
    CHECK(v >= d);
    gort_chan_release(a);
    gort_waitgroup_done(&many_wg);
}

static void yielder(void *arg) {
    (void)arg;
    while (!atomic_load(&yield_quit)) gort_gosched(); /* direct switches, on every P */
    gort_waitgroup_done(&many_wg);
}

static void check_many(void) {
    for (int i = 0; i < MANY; i++) {
        int64_t ns = (int64_t)(i % 100) * 10 * US;
        many_deadline[i] = gort_now() + ns;
        many[i] = gort_timer_new(ns);
        CHECK(many[i] != NULL);
    }
    for (int i = 0; i < MANY; i++) {
        int64_t v;
        CHECK_EQ(gort_chan_recv(gort_timer_chan(many[i]), &v), 1);
        CHECK(v >= many_deadline[i]);
        CHECK(gort_now() >= many_deadline[i]);
    }
    for (int i = 0; i < MANY; i++) gort_timer_free(many[i]);

    gort_waitgroup_add(&many_wg, AFTER_GOROUTINES);
    for (int i = 0; i < AFTER_GOROUTINES; i++) gort_go(after_waiter, (void *)(intptr_t)((i % 50) * 20 * US));
    gort_waitgroup_wait(&many_wg);

    /* AfterFunc goroutines started while goroutines switch among themselves directly (so
     * timers fire from that path too). */
    int ny = 2 * gort_gomaxprocs(0);
    atomic_store(&yield_quit, 0);
    gort_waitgroup_add(&many_wg, ny);
    for (int i = 0; i < ny; i++) gort_go(yielder, NULL);
    atomic_store(&func_runs, 0);
    atomic_store(&func_bad_goid, 0);
    gort_waitgroup_add(&func_wg, FUNCS);
    for (int i = 0; i < FUNCS; i++) {
        many[i] = gort_after_func((int64_t)(i % 100) * 10 * US, count_run, NULL);
        CHECK(many[i] != NULL);
    }
    gort_waitgroup_wait(&func_wg);
    CHECK_EQ(atomic_load(&func_runs), FUNCS);
    CHECK_EQ(atomic_load(&func_bad_goid), 0);
    for (int i = 0; i < FUNCS; i++) {
        CHECK_EQ(gort_timer_stop(many[i]), 0);
        gort_timer_free(many[i]);
    }
    atomic_store(&yield_quit, 1);
    gort_waitgroup_wait(&many_wg);
}

/* --- a ticker while every P runs a busy goroutine -------------------------------------- */

static atomic_int busy_quit;

static void busy(void *arg) {
    (void)arg;
    while (!atomic_load(&busy_quit)) {
    }
    gort_waitgroup_done(&many_wg);
}

static void check_ticker_under_load(void) {
    int n = gort_gomaxprocs(0);
    atomic_store(&busy_quit, 0);
    gort_waitgroup_add(&many_wg, n);
    for (int i = 0; i < n; i++) gort_go(busy, NULL);
    gort_gosched();
    gort_ticker *tk = gort_ticker_new(1 * MS);
    int64_t v, prev = 0;
    for (int k = 0; k < 5; k++) {
        CHECK_EQ(gort_chan_recv(gort_ticker_chan(tk), &v), 1);
        CHECK(v > prev);
        prev = v;
    }
    gort_ticker_free(tk);
    atomic_store(&busy_quit, 1);
    gort_waitgroup_wait(&many_wg);
}

/* --- freeing pending timers ------------------------------------------------------------ */

static atomic_int freed_runs;
static void freed_run(void *arg) {
    (void)arg;
    atomic_fetch_add(&freed_runs, 1);
}

static void check_free_pending(void) {
    uint64_t seed = 12345;
    int expected = 0;
    for (int i = 0; i < 1000; i++) {
        int64_t ns = (int64_t)(rng_next(&seed) % 50) * US;
        gort_timer_free(gort_timer_new(ns));
        gort_ticker_free(gort_ticker_new(ns + 1));
        gort_timer *t = gort_after_func(ns, freed_run, NULL);
        if (i & 1) spin_for(ns);
        /* Stop says whether fn will run; free after it must not change that. */
        if (gort_timer_stop(t) == 0) expected++;
        gort_timer_free(t);
        if (i % 100 == 0) gort_sleep(100 * US); /* let stale entries fire into freed timers */
    }
    int64_t give_up = gort_deadline_in(60000 * MS);
    while (atomic_load(&freed_runs) < expected && gort_now() < give_up) gort_sleep(1 * MS);
    gort_sleep(10 * MS);
    CHECK_EQ(atomic_load(&freed_runs), expected);
    /* A timer freed while a value sits in its buffer. */
    gort_timer *t = gort_timer_new(0);
    gort_sleep(2 * MS);
    gort_timer_free(t);
}

/* --- NULL arguments -------------------------------------------------------------------- */

__attribute__((noinline)) static void check_nulls(void) {
    CHECK_EQ(gort_timer_stop(NULL), GORT_EINVAL);
    CHECK_EQ(gort_timer_reset(NULL, MS), GORT_EINVAL);
    CHECK(gort_timer_chan(NULL) == NULL);
    CHECK(gort_ticker_chan(NULL) == NULL);
    gort_timer_free(NULL);
    gort_ticker_free(NULL);
    /* A NULL ticker to reset is a gort panic (the rule for void functions): test_bad_args. */
    errno = 0;
    CHECK(gort_after_func(MS, NULL, NULL) == NULL);
    CHECK_EQ(errno, EINVAL);
}

/* --- a thread the runtime does not own ------------------------------------------------- */

static void *foreign(void *arg) {
    (void)arg;
    CHECK_EQ(gort_goid(), 0);
    int64_t v, t0 = gort_now();
    gort_chan *a = gort_after(1 * MS);
    CHECK_EQ(gort_chan_recv(a, &v), 1); /* blocks this thread */
    CHECK(v >= t0 + 1 * MS);
    gort_chan_release(a);
    gort_timer *t = gort_timer_new(HOUR);
    CHECK_EQ(gort_timer_stop(t), 1);
    CHECK_EQ(gort_timer_reset(t, 1 * MS), 0);
    CHECK_EQ(gort_chan_recv(gort_timer_chan(t), &v), 1);
    CHECK_EQ(gort_timer_reset(t, 0), 0);
    CHECK_EQ(recv_now(gort_timer_chan(t), &v), 1);
    gort_timer_free(t);
    gort_ticker *tk = gort_ticker_new(1 * MS);
    int64_t prev = 0;
    for (int k = 0; k < 3; k++) {
        CHECK_EQ(gort_chan_recv(gort_ticker_chan(tk), &v), 1);
        CHECK(v > prev);
        prev = v;
    }
    gort_ticker_reset(tk, HOUR);
    CHECK_EQ(recv_now(gort_ticker_chan(tk), &v), GORT_EAGAIN);
    gort_ticker_free(tk);
    /* AfterFunc from a foreign thread: fn still runs in a goroutine. */
    atomic_store(&func_bad_goid, 0);
    gort_waitgroup_add(&func_wg, 1);
    t = gort_after_func(1 * MS, count_run, NULL);
    gort_waitgroup_wait(&func_wg);
    CHECK_EQ(atomic_load(&func_bad_goid), 0);
    gort_timer_free(t);
    return NULL;
}

static void check_foreign(void) {
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, foreign, NULL), 0);
    CHECK_EQ(pthread_join(th, NULL), 0);
}

static int main_goroutine(void *arg) {
    (void)arg;
    check_nulls();
    check_basics();
    check_go_semantics();
    check_select();
    check_foreign();
    check_free_pending();
    check_many();
    check_ticker_under_load();
    check_races();
    return 0;
}

int main(void) {
    check_foreign(); /* before the runtime's first goroutine: timers start it lazily */
    return gort_main(main_goroutine, NULL);
}
