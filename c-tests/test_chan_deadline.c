// Channel deadlines: deadline 0 is a non-blocking operation (GORT_EAGAIN), a deadline that
// passes while waiting is GORT_ETIMEDOUT and leaves the channel as it was, no value is
// lost or duplicated when timeouts race with real operations, NULL channels, closed
// channels, and the same calls from a thread the runtime does not own.
// VALGRIND: yes
// ASAN: yes
// TSAN: yes
// TIMEOUT: 120
#include "check.h"
#include "gort.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

static void check_nonblocking(void) {
    gort_chan *u = gort_chan_make(sizeof(int), 0);
    gort_chan *b = gort_chan_make(sizeof(int), 2);
    int v = 5;
    CHECK_EQ(gort_chan_recv_until(u, &v, 0), GORT_EAGAIN);
    CHECK_EQ(gort_chan_send_until(u, &v, 0), GORT_EAGAIN);
    CHECK_EQ(gort_chan_send_until(b, &v, 0), 0);
    CHECK_EQ(gort_chan_send_until(b, &v, 0), 0);
    CHECK_EQ(gort_chan_send_until(b, &v, 0), GORT_EAGAIN); /* full */
    CHECK_EQ(gort_chan_len(b), 2);
    int out = 0;
    CHECK_EQ(gort_chan_recv_until(b, &out, gort_now() - 1), 1);
    CHECK_EQ(out, 5);
    /* A past deadline other than 0 is non-blocking too. */
    CHECK_EQ(gort_chan_recv_until(u, &out, gort_now()), GORT_EAGAIN);
    gort_chan_release(u);
    gort_chan_release(b);
}

static void check_timeouts_leave_channel_clean(void) {
    gort_chan *u = gort_chan_make(sizeof(int), 0);
    int v = 1;
    CHECK_EQ(gort_chan_recv_until(u, &v, gort_deadline_in(20 * 1000000)), GORT_ETIMEDOUT);
    CHECK_EQ(gort_chan_send_until(u, &v, gort_deadline_in(20 * 1000000)), GORT_ETIMEDOUT);
    /* No stale waiter remains: a non-blocking send finds no receiver. */
    CHECK_EQ(gort_chan_send_until(u, &v, 0), GORT_EAGAIN);
    CHECK_EQ(gort_chan_recv_until(u, &v, 0), GORT_EAGAIN);
    gort_chan_release(u); /* would be a fatal error if a waiter were still queued */
}

/* A receiver blocked with a long deadline gets the value from a non-blocking send. */
static atomic_int got_value;
static void patient_receiver(void *arg) {
    int v = 0;
    CHECK_EQ(gort_chan_recv_until(arg, &v, gort_deadline_in(60LL * 1000000000)), 1);
    CHECK_EQ(v, 77);
    atomic_store(&got_value, 1);
}
static void check_nonblocking_send_to_waiter(void) {
    gort_chan *u = gort_chan_make(sizeof(int), 0);
    gort_go(patient_receiver, u);
    int v = 77;
    while (gort_chan_send_until(u, &v, 0) == GORT_EAGAIN) gort_gosched();
    while (!atomic_load(&got_value)) gort_gosched();
    gort_chan_release(u);
}

static void check_nil_and_closed(void) {
    int v = 3;
    CHECK_EQ(gort_chan_recv_until(NULL, &v, 0), GORT_EAGAIN);
    CHECK_EQ(gort_chan_send_until(NULL, &v, 0), GORT_EAGAIN);
    CHECK_EQ(gort_chan_recv_until(NULL, &v, gort_deadline_in(20 * 1000000)), GORT_ETIMEDOUT);
    CHECK_EQ(gort_chan_send_until(NULL, &v, gort_deadline_in(20 * 1000000)), GORT_ETIMEDOUT);
    gort_chan *c = gort_chan_make(sizeof(int), 1);
    CHECK_EQ(gort_chan_send_until(c, &v, 0), 0);
    gort_chan_close(c);
    CHECK_EQ(gort_chan_recv_until(c, &v, 0), 1);
    CHECK_EQ(gort_chan_recv_until(c, &v, 0), 0); /* closed: ready, not EAGAIN */
    CHECK_EQ(v, 0);
    gort_chan_release(c);
}

/* Timeouts racing real operations: every value whose send returned 0 is received
 * exactly once, and nothing else is. */
enum { RACERS = 8, PER_RACER = 3000 };
static gort_chan *race_ch;
static atomic_llong sent_sum, recv_sum, sent_n, recv_n, timeouts;
static atomic_int racers_done, receivers_done;

static void race_sender(void *arg) {
    long long id = (long long)(intptr_t)arg;
    for (long long i = 0; i < PER_RACER; i++) {
        long long v = id * 1000000 + i;
        int rc = gort_chan_send_until(race_ch, &v, gort_deadline_in((i % 7) * 20000));
        if (rc == 0) {
            atomic_fetch_add(&sent_sum, v);
            atomic_fetch_add(&sent_n, 1);
        } else {
            CHECK(rc == GORT_ETIMEDOUT || rc == GORT_EAGAIN);
            atomic_fetch_add(&timeouts, 1);
        }
    }
    atomic_fetch_add(&racers_done, 1);
}
static void race_receiver(void *arg) {
    (void)arg;
    for (;;) {
        long long v;
        int rc = gort_chan_recv_until(race_ch, &v, gort_deadline_in(30000));
        if (rc == 0) break; /* closed */
        if (rc == 1) {
            atomic_fetch_add(&recv_sum, v);
            atomic_fetch_add(&recv_n, 1);
        } else {
            CHECK(rc == GORT_ETIMEDOUT || rc == GORT_EAGAIN);
        }
    }
    atomic_fetch_add(&receivers_done, 1);
}
static void check_timeout_races(size_t cap) {
    race_ch = gort_chan_make(sizeof(long long), cap);
    atomic_store(&sent_sum, 0); atomic_store(&recv_sum, 0);
    atomic_store(&sent_n, 0); atomic_store(&recv_n, 0);
    atomic_store(&racers_done, 0);
    atomic_store(&receivers_done, 0);
    for (int i = 0; i < RACERS; i++) gort_go(race_sender, (void *)(intptr_t)i);
    for (int i = 0; i < RACERS / 2; i++) gort_go(race_receiver, NULL);
    while (atomic_load(&racers_done) < RACERS) gort_sleep(1000000);
    /* Drain what is buffered, then close so receivers exit. */
    long long v;
    while (gort_chan_recv_until(race_ch, &v, 0) == 1) {
        atomic_fetch_add(&recv_sum, v);
        atomic_fetch_add(&recv_n, 1);
    }
    gort_chan_close(race_ch);
    while (atomic_load(&receivers_done) < RACERS / 2) gort_sleep(1000000);
    CHECK_EQ(atomic_load(&recv_n), atomic_load(&sent_n));
    CHECK_EQ(atomic_load(&recv_sum), atomic_load(&sent_sum));
    CHECK(atomic_load(&sent_n) > 0);
    gort_chan_release(race_ch);
}

/* The same calls from a plain pthread. */
static atomic_int thread_checked;
static void *thread_body(void *arg) {
    gort_chan *c = arg;
    int v = 0;
    CHECK_EQ(gort_chan_recv_until(c, &v, 0), GORT_EAGAIN);
    CHECK_EQ(gort_chan_recv_until(c, &v, gort_deadline_in(20 * 1000000)), GORT_ETIMEDOUT);
    atomic_store(&thread_checked, 1);
    CHECK_EQ(gort_chan_recv_until(c, &v, gort_deadline_in(60LL * 1000000000)), 1);
    CHECK_EQ(v, 9);
    return NULL;
}
static void check_foreign_thread(void) {
    gort_chan *c = gort_chan_make(sizeof(int), 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, thread_body, c), 0);
    while (!atomic_load(&thread_checked)) gort_sleep(1000000);
    int v = 9;
    CHECK_EQ(gort_chan_send(c, &v), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    gort_chan_release(c);
}

static int main_goroutine(void *arg) {
    (void)arg;
    check_nonblocking();
    check_timeouts_leave_channel_clean();
    check_nonblocking_send_to_waiter();
    check_nil_and_closed();
    check_timeout_races(0);
    check_timeout_races(4);
    check_foreign_thread();
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
