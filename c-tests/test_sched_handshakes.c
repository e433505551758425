// Stress for the scheduler's lock-free protocols, end to end on 4 Ps (their decision
// logic is model-checked by loom in src/sched/protocol.rs; this runs the whole runtime
// around them):
// - runnext: spawns and channel hand-offs fill runnext while idle Ps steal; every
//   goroutine runs exactly once;
// - P status: goroutines in blocking regions and long user-code loops have their Ps
//   retaken by sysmon and handed on, while they re-enter the runtime; everything they
//   count adds up;
// - spinning/wakep: a foreign thread readies a goroutine just as the Ms go idle, while
//   every goroutine is parked (no P in user code for sysmon to retake and hand on): a
//   lost wake-up would hang the round for good (and the TIMEOUT fails the test);
// - timer waiter: while the waiter M sleeps until a far deadline and every other M is
//   idle, a foreign thread arms a 1 ms timer (gort_after_func) whose goroutine wakes the
//   far sleeper; nothing but the kick of the waiter can fire it early, so a missed
//   earlier deadline makes the far sleeper time out (after 5 s, a margin no load
//   explains). Odd rounds start a goroutine that sleeps 1 ms instead.
// VALGRIND: yes
// TIMEOUT: 300
#include "check.h"
#include "gort.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

enum { PROCS = 4 };

// --- runnext: every goroutine runs exactly once ----------------------------------------

enum { SPAWN_ROUNDS = 50, SPAWN_FAN = 64 };
static atomic_int runs[SPAWN_ROUNDS * SPAWN_FAN];
static gort_waitgroup spawn_wg = GORT_WAITGROUP_INIT;

static void counted(void *arg) {
    atomic_fetch_add(&runs[(intptr_t)arg], 1);
    gort_waitgroup_done(&spawn_wg);
}

static void spawner(void *arg) {
    intptr_t base = (intptr_t)arg * SPAWN_FAN;
    for (intptr_t i = 0; i < SPAWN_FAN; i++) {
        // Each spawn goes to runnext, pushing the previous one to the local queue, where
        // the idle Ps' spinning Ms steal it (and runnext, in their last round).
        CHECK_EQ(gort_go(counted, (void *)(base + i)), 0);
        if (i % 8 == 0) gort_gosched();
    }
    gort_waitgroup_done(&spawn_wg);
}

static void ping(void *arg) {
    struct gort_chan **ch = arg;
    int v;
    for (int i = 0; i < 2000; i++) {
        // The receiver is readied into this P's runnext; a thief may take it.
        CHECK_EQ(gort_chan_send(ch[0], &i), 0);
        CHECK_EQ(gort_chan_recv(ch[1], &v), 1);
        CHECK_EQ(v, i);
    }
    gort_waitgroup_done(&spawn_wg);
}

static void pong(void *arg) {
    struct gort_chan **ch = arg;
    int v;
    for (int i = 0; i < 2000; i++) {
        CHECK_EQ(gort_chan_recv(ch[0], &v), 1);
        CHECK_EQ(gort_chan_send(ch[1], &v), 0);
    }
    gort_waitgroup_done(&spawn_wg);
}

static void check_runnext(void) {
    struct gort_chan *ch[2] = {gort_chan_make(sizeof(int), 0), gort_chan_make(sizeof(int), 0)};
    CHECK(ch[0] && ch[1]);
    gort_waitgroup_add(&spawn_wg, SPAWN_ROUNDS * SPAWN_FAN + SPAWN_ROUNDS + 2);
    CHECK_EQ(gort_go(ping, ch), 0);
    CHECK_EQ(gort_go(pong, ch), 0);
    for (intptr_t r = 0; r < SPAWN_ROUNDS; r++) CHECK_EQ(gort_go(spawner, (void *)r), 0);
    gort_waitgroup_wait(&spawn_wg);
    for (int i = 0; i < SPAWN_ROUNDS * SPAWN_FAN; i++) CHECK_EQ(atomic_load(&runs[i]), 1);
    gort_chan_release(ch[0]);
    gort_chan_release(ch[1]);
}

// --- P status: retakes race with re-entry ----------------------------------------------

enum { RETAKERS = 6, RETAKE_ROUNDS = 40 };
static atomic_long retake_work;
static gort_waitgroup retake_wg = GORT_WAITGROUP_INIT;

static void tick(void *arg) {
    (void)arg;
    atomic_fetch_add(&retake_work, 1);
    gort_waitgroup_done(&retake_wg);
}

static void blocker(void *arg) {
    intptr_t id = (intptr_t)arg;
    for (int r = 0; r < RETAKE_ROUNDS; r++) {
        // Queued work makes sysmon retake the P of a blocking region after ~20 us.
        CHECK_EQ(gort_go(tick, NULL), 0);
        if ((r + id) % 2 == 0) {
            gort_blocking_enter();
            usleep(300);
            gort_blocking_exit();
        } else {
            // User code that does not call the runtime: a retake after 10 ms at most,
            // sometimes (the loop is a few ms long), racing with the re-entry below.
            volatile unsigned long x = 0;
            for (unsigned long i = 0; i < 2000000; i++) x += i;
        }
        gort_gosched(); // re-enters the runtime: finds its P, or learns it was taken
    }
    gort_waitgroup_done(&retake_wg);
}

static void check_retake(void) {
    gort_waitgroup_add(&retake_wg, RETAKERS * (RETAKE_ROUNDS + 1));
    for (intptr_t i = 0; i < RETAKERS; i++) CHECK_EQ(gort_go(blocker, (void *)i), 0);
    gort_waitgroup_wait(&retake_wg);
    CHECK_EQ(atomic_load(&retake_work), RETAKERS * RETAKE_ROUNDS);
}

// --- spinning: a G readied from outside as the Ms go idle ------------------------------

enum { WAKE_ROUNDS = 3000 };
static struct gort_chan *to_g, *from_g, *waker_done;

static void echo(void *arg) {
    (void)arg;
    int v;
    for (int i = 0; i < WAKE_ROUNDS; i++) {
        CHECK_EQ(gort_chan_recv(to_g, &v), 1);
        CHECK_EQ(gort_chan_send(from_g, &v), 0);
    }
}

static void *foreign_waker(void *arg) {
    (void)arg;
    for (int i = 0; i < WAKE_ROUNDS; i++) {
        // Vary the moment: right as the Ms give up their Ps and stop spinning, or later.
        if (i % 4 == 1) usleep((unsigned)(i % 7) * 10);
        for (volatile int spin = 0; spin < (i % 5) * 200; spin++) {
        }
        CHECK_EQ(gort_chan_send(to_g, &i), 0);
        int v = -1;
        CHECK_EQ(gort_chan_recv(from_g, &v), 1);
        CHECK_EQ(v, i);
    }
    int done = 1;
    CHECK_EQ(gort_chan_send(waker_done, &done), 0);
    return NULL;
}

static void check_wakeups(void) {
    to_g = gort_chan_make(sizeof(int), 0);
    from_g = gort_chan_make(sizeof(int), 0);
    waker_done = gort_chan_make(sizeof(int), 0);
    CHECK(to_g && from_g && waker_done);
    CHECK_EQ(gort_go(echo, NULL), 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, foreign_waker, NULL), 0);
    // Park (not block the thread in pthread_join): the P goes idle like the others.
    int done = 0;
    CHECK_EQ(gort_chan_recv(waker_done, &done), 1);
    CHECK_EQ(pthread_join(t, NULL), 0);
    gort_chan_release(to_g);
    gort_chan_release(from_g);
    gort_chan_release(waker_done);
}

// --- timer waiter: an earlier timer while the waiter sleeps for a later one ------------

enum { TIMER_ROUNDS = 40 };
static struct gort_chan *far_ch;

static void near_fired(void *arg) {
    (void)arg;
    int v = 1;
    CHECK_EQ(gort_chan_send(far_ch, &v), 0);
}

static void near_sleeper(void *arg) {
    gort_sleep(1000000); // 1 ms: earlier than the waiter's deadline
    near_fired(arg);
}

static void *foreign_starter(void *arg) {
    usleep(2000); // let the far sleeper's M become the timer waiter
    if ((intptr_t)arg % 2 == 0) {
        // A timer on a heap with no M awake: only the waiter's kick fires it in time.
        gort_timer *t = gort_after_func(1000000, near_fired, NULL);
        CHECK(t != NULL);
        return t;
    }
    CHECK_EQ(gort_go(near_sleeper, NULL), 0);
    return NULL;
}

static void check_idle_waiter(void) {
    far_ch = gort_chan_make(sizeof(int), 0);
    CHECK(far_ch);
    for (int r = 0; r < TIMER_ROUNDS; r++) {
        pthread_t t;
        CHECK_EQ(pthread_create(&t, NULL, foreign_starter, (void *)(intptr_t)r), 0);
        int v = 0;
        // Far deadline: with every other M idle, this M's sleep makes one the waiter
        // until 5 s from now; the near sleeper's 1 ms timer must kick it.
        CHECK_EQ(gort_chan_recv_until(far_ch, &v, gort_deadline_in(5000000000LL)), 1);
        CHECK_EQ(v, 1);
        void *timer = NULL;
        CHECK_EQ(pthread_join(t, &timer), 0);
        gort_timer_free(timer);
    }
    gort_chan_release(far_ch);
}

static int main_g(void *arg) {
    (void)arg;
    check_runnext();
    check_retake();
    check_wakeups();
    check_idle_waiter();
    return 0;
}

int main(void) {
    struct gort_config cfg = {0};
    cfg.maxprocs = PROCS;
    CHECK_EQ(gort_init(&cfg), 0);
    CHECK_EQ(gort_main(main_g, NULL), 0);
    return 0;
}
