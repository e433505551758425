// Timers freed while pending leave nothing behind (Go 1.23 collects an unreferenced
// timer at once): 600,000 `gort_after(1h)` channels released before they fire, and as many
// timers, tickers and AfterFunc timers freed while pending, must not grow the resident set
// (/proc/self/statm) beyond a generous bound; each kind is also freed after a receive put
// it on a timer heap (a receive with a past, nonzero deadline does that without blocking),
// and after a select blocked on it. Before the fix every released `gort_after(1h)` kept
// ~340 bytes until its hour was up (+200 MB here).
// TIMEOUT: 240
#include "check.h"
#include "gort.h"

#include <stdint.h>
#include <unistd.h>

static const int64_t HOUR = 3600LL * 1000000000LL;
enum { N = 600000 };
/* Generous: a leak of ~340 bytes per timer is ~200 MB at N. */
static const long long BOUND = 48LL << 20;

/* A receive that puts the timer on a heap (deadline nonzero) but cannot block (past). */
static void touch(gort_chan *c) {
    int64_t v;
    CHECK_EQ(gort_chan_recv_until(c, &v, 1), GORT_EAGAIN);
}

static void nothing(void *arg) { (void)arg; }

typedef void (*step_fn)(int i);

static void after_released(int i) { gort_chan_release(gort_after(HOUR + i)); }
static void after_touched(int i) {
    gort_chan *c = gort_after(HOUR + i);
    touch(c);
    gort_chan_release(c);
}
static void timer_freed(int i) { gort_timer_free(gort_timer_new(HOUR + i)); }
static void timer_touched(int i) {
    gort_timer *t = gort_timer_new(HOUR + i);
    touch(gort_timer_chan(t));
    gort_timer_free(t);
}
static void ticker_freed(int i) { gort_ticker_free(gort_ticker_new(HOUR + i)); }
static void ticker_touched(int i) {
    gort_ticker *t = gort_ticker_new(HOUR + i);
    touch(gort_ticker_chan(t));
    gort_ticker_free(t);
}
static void ticker_stopped(int i) {
    gort_ticker *t = gort_ticker_new(HOUR + i);
    touch(gort_ticker_chan(t));
    gort_ticker_stop(t);
    gort_ticker_free(t);
}
static void after_func_freed(int i) { gort_timer_free(gort_after_func(HOUR + i, nothing, NULL)); }

static void run(const char *name, step_fn step, int n) {
    for (int i = 0; i < 10000; i++) step(i); /* warm the allocator's caches */
    long long before = statm_bytes(1);
    for (int i = 0; i < n; i++) step(i);
    long long grown = statm_bytes(1) - before;
    printf("%-18s %d: RSS %+lld KiB\n", name, n, grown / 1024);
    if (grown > BOUND) {
        fprintf(stderr, "%s: RSS grew by %lld KiB over %d timers\n", name, grown / 1024, n);
        CHECK(0);
    }
}

/* --- the Go idiom: select { case <-time.After(1h): case v := <-data: } ----------------- */

typedef struct {
    gort_chan *data;
    int n;
    gort_waitgroup *wg;
} feeder_arg;

static void feeder(void *p) {
    feeder_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        gort_gosched(); /* usually after the select has blocked */
        CHECK_EQ(gort_chan_send(a->data, &i), 0);
    }
    gort_waitgroup_done(a->wg);
}

static gort_chan *select_data;

static void select_step(int i) {
    (void)i;
    int v = -1;
    int64_t when = 0;
    gort_chan *after = gort_after(HOUR);
    gort_case cs[2] = {
        {.chan = after, .dir = GORT_RECV, .elem = &when},
        {.chan = select_data, .dir = GORT_RECV, .elem = &v},
    };
    CHECK_EQ(gort_select(cs, 2, GORT_FOREVER), 1);
    gort_chan_release(after);
}

static void select_after(int n) {
    select_data = gort_chan_make(sizeof(int), 0);
    gort_waitgroup wg = {0};
    feeder_arg a = {.data = select_data, .n = n + 10000, .wg = &wg};
    gort_waitgroup_add(&wg, 1);
    CHECK_EQ(gort_go(feeder, &a), 0);
    run("select_after", select_step, n);
    gort_waitgroup_wait(&wg);
    gort_chan_release(select_data);
}

/* --- the same from goroutines on every P ----------------------------------------------- */

static gort_waitgroup par_wg;
static void par_worker(void *arg) {
    int base = (int)(intptr_t)arg;
    for (int i = 0; i < N / 8; i++) {
        after_touched(base + i);
        timer_touched(base + i);
        ticker_touched(base + i);
        after_func_freed(base + i);
    }
    gort_waitgroup_done(&par_wg);
}

static void parallel(int i) {
    (void)i;
    gort_waitgroup_add(&par_wg, 4);
    for (int k = 0; k < 4; k++) CHECK_EQ(gort_go(par_worker, (void *)(intptr_t)(k * N)), 0);
    gort_waitgroup_wait(&par_wg);
}

static void parallel_run(void) {
    parallel(0); /* warm up */
    long long before = statm_bytes(1);
    parallel(0);
    long long grown = statm_bytes(1) - before;
    printf("%-18s %d: RSS %+lld KiB\n", "parallel", 4 * 4 * (N / 8), grown / 1024);
    if (grown > BOUND) {
        fprintf(stderr, "parallel: RSS grew by %lld KiB\n", grown / 1024);
        CHECK(0);
    }
}

static int main_goroutine(void *arg) {
    (void)arg;
    run("after_released", after_released, N);
    run("after_touched", after_touched, N);
    run("timer_freed", timer_freed, N);
    run("timer_touched", timer_touched, N);
    run("ticker_freed", ticker_freed, N);
    run("ticker_touched", ticker_touched, N);
    run("ticker_stopped", ticker_stopped, N);
    run("after_func_freed", after_func_freed, N);
    select_after(N / 2);
    parallel_run();
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
