// gort_ticker_stop, Go's Ticker.Stop: stops without freeing, no tick is received after it
// returns (Go 1.23+: not even one that came due before and was never received), and
// gort_ticker_reset starts the ticker again. Ported from Go's time package tests:
// testTimerChan for a Ticker (tick_test.go, synchronous timer channels), TestTicker's
// "ticker stopped" check, TestTeardown, TestTickerStress, TestTickerConcurrentStress,
// TestMultiWakeupTicker (sleep_test.go), TestAfterTimes and TestTickTimes (the value is the
// time the timer was due, not when it was received). Plus a receiver racing Stop on every
// P, and NULL. No upper bounds on timing: "eventually" means retried up to a second.
// VALGRIND: yes
// ASAN: yes
// TSAN: yes
// TIMEOUT: 240
#include "check.h"
#include "gort.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

static const int64_t US = 1000;
static const int64_t MS = 1000000;
static const int64_t HOUR = 3600LL * 1000000000LL;
static const int64_t SCHED = 10 * 1000000; /* Go's `sched` */
enum { TRIES = 100 };

static int recv_now(gort_chan *c, int64_t *v) { return gort_chan_recv_until(c, v, 0); }

/* A value or closed: the "done" channels below are closed or sent to. */
static int is_done(gort_chan *done) { return gort_chan_recv_until(done, NULL, 0) >= 0; }
static void not_done(gort_chan *done) { CHECK(!is_done(done)); }
static void wait_done(gort_chan *done) {
    for (int i = 0; i < TRIES; i++) {
        gort_sleep(SCHED);
        if (is_done(done)) return;
    }
    CHECK(!"never got done");
}

static void no_tick(gort_chan *c) {
    int64_t v;
    CHECK_EQ(recv_now(c, &v), GORT_EAGAIN);
}

static void assert_tick(gort_chan *c) {
    int64_t v;
    if (recv_now(c, &v) == 1) return;
    for (int i = 0; i < TRIES; i++) {
        gort_sleep(SCHED);
        if (recv_now(c, &v) == 1) return;
    }
    CHECK(!"missing tick");
}

/* Go's tickerTimer: Stop and Reset that say whether the ticker was running. */
typedef struct {
    gort_ticker *tk;
    int stopped;
} ticker_timer;

static int tt_stop(ticker_timer *t) {
    int pending = !t->stopped;
    t->stopped = 1;
    gort_ticker_stop(t->tk);
    return pending;
}

static int tt_reset(ticker_timer *t, int64_t d) {
    int pending = !t->stopped;
    t->stopped = 0;
    gort_ticker_reset(t->tk, d);
    return pending;
}

/* --- testTimerChan(Ticker), synchronous channels --------------------------------------- */

typedef struct {
    gort_chan *c, *done, *done_x, *stop;
} waiter_arg;

static void recv_then_close(void *p) {
    waiter_arg *a = p;
    int64_t v;
    CHECK_EQ(gort_chan_recv(a->c, &v), 1);
    gort_chan_close(a->done);
}

static void select_then_close(void *p) {
    waiter_arg *a = p;
    int64_t v;
    gort_case cs[2] = {{.chan = a->c, .dir = GORT_RECV, .elem = &v}, {.chan = a->stop, .dir = GORT_RECV}};
    int r = gort_select(cs, 2, GORT_FOREVER);
    if (r == 0) {
        int yes = 1;
        CHECK_EQ(gort_chan_send(a->done, &yes), 0);
    } else {
        CHECK_EQ(r, 1);
    }
    gort_chan_close(a->done_x);
}

static void select_never_ticks(void *p) {
    waiter_arg *a = p;
    int64_t v;
    gort_case cs[2] = {{.chan = a->c, .dir = GORT_RECV, .elem = &v}, {.chan = a->stop, .dir = GORT_RECV}};
    CHECK_EQ(gort_select(cs, 2, GORT_FOREVER), 1); /* Go: panic("unexpected data") */
    int yes = 1;
    CHECK_EQ(gort_chan_send(a->done, &yes), 0);
}

static void test_ticker_chan(void) {
    ticker_timer tim = {.tk = gort_ticker_new(10000LL * 1000 * MS)};
    CHECK(tim.tk != NULL);
    gort_chan *c = gort_ticker_chan(tim.tk);

    /* Simple stop; timer never in heap. */
    tt_stop(&tim);
    no_tick(c);
    /* Modify of timer not in heap. */
    tt_reset(&tim, 10000LL * 1000 * MS);
    no_tick(c);
    /* Modify of timer in heap. */
    tt_reset(&tim, 1);
    gort_sleep(SCHED);
    CHECK_EQ(gort_chan_len(c), 0);
    CHECK_EQ(gort_chan_cap(c), 0);
    assert_tick(c);

    /* Sleep long enough that a second tick must happen; Reset does not lose it... and no
     * stale value after it. */
    gort_sleep(SCHED);
    tt_reset(&tim, 10000LL * 1000 * MS);
    no_tick(c);

    /* Stop while the timer is in the heap (a goroutine is blocked on it). */
    tt_reset(&tim, 10000LL * 1000 * MS);
    waiter_arg a = {.c = c, .done = gort_chan_make(sizeof(int), 0)};
    not_done(a.done);
    CHECK_EQ(gort_go(recv_then_close, &a), 0);
    gort_sleep(SCHED);
    not_done(a.done);
    /* Reset far away while in heap. */
    tt_reset(&tim, 20000LL * 1000 * MS);
    gort_sleep(SCHED);
    not_done(a.done);
    /* Imminent reset while in heap. */
    tt_reset(&tim, 1);
    wait_done(a.done);
    /* A ticker: another tick came in already (they are 1 ns apart). */
    assert_tick(c);
    tt_stop(&tim);
    no_tick(c);
    gort_chan_release(a.done);

    /* Again using select and with two goroutines waiting. */
    tt_reset(&tim, 10000LL * 1000 * MS);
    gort_chan *done = gort_chan_make(sizeof(int), 2), *stop = gort_chan_make(0, 0);
    waiter_arg w1 = {.c = c, .done = done, .done_x = gort_chan_make(0, 0), .stop = stop};
    waiter_arg w2 = {.c = c, .done = done, .done_x = gort_chan_make(0, 0), .stop = stop};
    CHECK_EQ(gort_go(select_then_close, &w1), 0);
    CHECK_EQ(gort_go(select_then_close, &w2), 0);
    gort_sleep(SCHED);
    not_done(done);
    tt_reset(&tim, SCHED / 2);
    gort_sleep(SCHED);
    wait_done(done);
    tt_stop(&tim);
    gort_chan_close(stop);
    wait_done(w1.done_x);
    wait_done(w2.done_x);
    /* The extra send might have sent done again, and filled C after that: drain both. */
    int64_t v;
    (void)gort_chan_recv_until(done, NULL, 0);
    (void)recv_now(c, &v);
    not_done(done);
    gort_chan_release(done);
    gort_chan_release(stop);
    gort_chan_release(w1.done_x);
    gort_chan_release(w2.done_x);

    /* enqueueTimerChan when the ticker is stopped: nothing ever arrives. */
    stop = gort_chan_make(0, 0);
    done = gort_chan_make(sizeof(int), 2);
    waiter_arg w = {.c = c, .done = done, .stop = stop};
    CHECK_EQ(gort_go(select_never_ticks, &w), 0);
    CHECK_EQ(gort_go(select_never_ticks, &w), 0);
    gort_sleep(SCHED);
    gort_chan_close(stop);
    wait_done(done);
    wait_done(done);
    gort_chan_release(done);
    gort_chan_release(stop);

    /* Stop and Reset block old values from being received (go.dev/issue/37196). */
    tt_reset(&tim, 1);
    gort_sleep(10 * MS);
    CHECK_EQ(tt_stop(&tim), 1);
    no_tick(c);
    tt_reset(&tim, HOUR);
    no_tick(c);
    CHECK_EQ(tt_reset(&tim, 1), 1);
    assert_tick(c);
    gort_sleep(10 * MS);
    assert_tick(c); /* a ticker */
    gort_sleep(10 * MS);
    CHECK_EQ(tt_reset(&tim, HOUR), 1);
    no_tick(c);
    gort_ticker_free(tim.tk);
}

/* --- TestTicker's "ticker stopped" and TestTeardown ------------------------------------ */

static void test_ticker_stops(void) {
    const int64_t delta = 20 * MS;
    gort_ticker *tk = gort_ticker_new(delta);
    gort_chan *c = gort_ticker_chan(tk);
    int64_t v;
    for (int i = 0; i < 5; i++) CHECK_EQ(gort_chan_recv(c, &v), 1);
    gort_ticker_reset(tk, delta * 2);
    for (int i = 0; i < 5; i++) CHECK_EQ(gort_chan_recv(c, &v), 1);
    gort_ticker_stop(tk);
    gort_sleep(2 * delta);
    no_tick(c); /* "Ticker did not shut down" */
    gort_ticker_stop(tk); /* a stopped ticker: nothing happens */
    no_tick(c);
    /* Stop, then Reset: it ticks again, on the new period. */
    int64_t t0 = gort_now();
    gort_ticker_reset(tk, 2 * MS);
    CHECK_EQ(gort_chan_recv(c, &v), 1);
    CHECK(v >= t0 + 2 * MS);
    gort_ticker_free(tk);

    for (int i = 0; i < 3; i++) { /* TestTeardown */
        tk = gort_ticker_new(delta);
        CHECK_EQ(gort_chan_recv(gort_ticker_chan(tk), &v), 1);
        gort_ticker_stop(tk);
        gort_ticker_free(tk);
    }
}

/* --- TestTickerStress, TestTickerConcurrentStress -------------------------------------- */

static atomic_int stress_stop;
static gort_waitgroup napper_wg, recv_wg;

static void napper(void *arg) { /* keeps the scheduler busy with timers meanwhile */
    (void)arg;
    while (!atomic_load(&stress_stop)) gort_sleep(1);
    gort_waitgroup_done(&napper_wg);
}

static void hundred_ticks(void *arg) {
    int64_t v;
    for (int i = 0; i < 100; i++) CHECK_EQ(gort_chan_recv(gort_ticker_chan(arg), &v), 1);
    gort_waitgroup_done(&recv_wg);
}

static void test_ticker_stress(void) {
    atomic_store(&stress_stop, 0);
    gort_waitgroup_add(&napper_wg, 1);
    CHECK_EQ(gort_go(napper, NULL), 0);
    gort_ticker *tk = gort_ticker_new(1);
    int64_t v;
    for (int i = 0; i < 100; i++) CHECK_EQ(gort_chan_recv(gort_ticker_chan(tk), &v), 1);
    gort_ticker_stop(tk);
    no_tick(gort_ticker_chan(tk));
    gort_ticker_free(tk);

    tk = gort_ticker_new(1);
    gort_waitgroup_add(&recv_wg, 10);
    for (int i = 0; i < 10; i++) CHECK_EQ(gort_go(hundred_ticks, tk), 0);
    gort_waitgroup_wait(&recv_wg);
    gort_ticker_stop(tk);
    no_tick(gort_ticker_chan(tk));
    gort_ticker_free(tk);
    atomic_store(&stress_stop, 1);
    gort_waitgroup_wait(&napper_wg);
}

/* --- TestMultiWakeupTicker ------------------------------------------------------------- */

enum { MULTI_ROUNDS = 2000 };
static gort_waitgroup multi_wg;

static void multi_waker(void *arg) {
    gort_ticker *tk = arg;
    for (int i = 0; i < MULTI_ROUNDS; i++) {
        int64_t v;
        gort_chan *after = gort_after(1 * MS);
        gort_case cs[2] = {
            {.chan = gort_ticker_chan(tk), .dir = GORT_RECV, .elem = &v},
            {.chan = after, .dir = GORT_RECV, .elem = &v},
        };
        int r = gort_select(cs, 2, GORT_FOREVER);
        CHECK(r == 0 || r == 1);
        gort_chan_release(after);
    }
    gort_waitgroup_done(&multi_wg);
}

static void test_multi_wakeup(void) {
    int n = gort_gomaxprocs(0);
    gort_ticker *tk = gort_ticker_new(1 * US);
    gort_waitgroup_add(&multi_wg, n);
    for (int i = 0; i < n; i++) CHECK_EQ(gort_go(multi_waker, tk), 0);
    gort_waitgroup_wait(&multi_wg);
    gort_ticker_stop(tk);
    gort_ticker_free(tk);
}

/* --- TestAfterTimes, TestTickTimes: the value is when it was due ------------------------- */

static void test_value_is_deadline(void) {
    int64_t t0 = gort_now();
    gort_chan *a = gort_after(10 * MS);
    int64_t t1 = gort_now();
    gort_sleep(50 * MS);
    int64_t v;
    CHECK_EQ(gort_chan_recv(a, &v), 1);
    CHECK(v >= t0 + 10 * MS && v <= t1 + 10 * MS); /* Go: "want <400ms" after a 500 ms sleep */
    gort_chan_release(a);

    t0 = gort_now();
    gort_ticker *tk = gort_ticker_new(10 * MS);
    t1 = gort_now();
    gort_sleep(55 * MS);
    CHECK_EQ(gort_chan_recv(gort_ticker_chan(tk), &v), 1);
    CHECK(v >= t0 + 10 * MS && v <= t1 + 10 * MS); /* the first tick, kept, then dropped ones */
    int64_t next;
    CHECK_EQ(gort_chan_recv(gort_ticker_chan(tk), &next), 1);
    CHECK(next > v && (next - v) % (10 * MS) == 0); /* on the original phase */
    gort_ticker_free(tk);
}

/* --- a receiver racing Stop on every P ------------------------------------------------- */

typedef struct {
    gort_chan *c;
    atomic_int stopped, quit, stale;
    gort_waitgroup wg;
} stop_race;

static void race_receiver(void *p) {
    stop_race *r = p;
    int64_t v;
    while (!atomic_load(&r->quit)) {
        int was_stopped = atomic_load(&r->stopped);
        int rc = gort_chan_recv_until(r->c, &v, gort_deadline_in(50 * US));
        if (rc == 1 && was_stopped) atomic_fetch_add(&r->stale, 1); /* began after Stop */
    }
    gort_waitgroup_done(&r->wg);
}

enum { RACE_ROUNDS = 300 };
static gort_waitgroup race_wg;
static atomic_int race_stale;

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void race_worker(void *arg) {
    uint64_t seed = 0x9e3779b97f4a7c15ULL * ((uint64_t)(uintptr_t)arg + 1);
    stop_race r = {0};
    for (int i = 0; i < RACE_ROUNDS; i++) {
        gort_ticker *tk = gort_ticker_new((int64_t)(1 + rng_next(&seed) % 30) * US);
        r.c = gort_ticker_chan(tk);
        atomic_store(&r.stopped, 0);
        atomic_store(&r.quit, 0);
        gort_waitgroup_add(&r.wg, 1);
        CHECK_EQ(gort_go(race_receiver, &r), 0);
        gort_sleep((int64_t)(rng_next(&seed) % 100) * US);
        gort_ticker_stop(tk);
        atomic_store(&r.stopped, 1);
        int64_t v;
        CHECK_EQ(recv_now(r.c, &v), GORT_EAGAIN);
        gort_sleep((int64_t)(rng_next(&seed) % 100) * US);
        atomic_store(&r.quit, 1);
        gort_waitgroup_wait(&r.wg);
        CHECK_EQ(recv_now(r.c, &v), GORT_EAGAIN);
        if (i & 1) { /* and it restarts */
            gort_ticker_reset(tk, 1 * US);
            CHECK_EQ(gort_chan_recv(r.c, &v), 1);
        }
        gort_ticker_free(tk);
    }
    atomic_fetch_add(&race_stale, atomic_load(&r.stale));
    gort_waitgroup_done(&race_wg);
}

static void test_stop_race(void) {
    int n = 2 * gort_gomaxprocs(0);
    gort_waitgroup_add(&race_wg, n);
    for (int i = 0; i < n; i++) CHECK_EQ(gort_go(race_worker, (void *)(intptr_t)i), 0);
    gort_waitgroup_wait(&race_wg);
    CHECK_EQ(atomic_load(&race_stale), 0);
}

/* A nil *Ticker's Stop panics in Go; so does a NULL one here. */
static void stop_null(void *arg) {
    (void)arg;
    gort_ticker_stop(NULL);
}

static void test_null(void) {
    const char *msg = NULL;
    CHECK_EQ(gort_protect(stop_null, NULL, &msg), 1);
    CHECK(msg != NULL && strcmp(msg, "gort_ticker_stop: nil ticker") == 0);
}

static int main_goroutine(void *arg) {
    (void)arg;
    test_null();
    test_ticker_chan();
    test_ticker_stops();
    test_value_is_deadline();
    test_ticker_stress();
    test_multi_wakeup();
    test_stop_race();
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
