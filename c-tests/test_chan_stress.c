// Channel and select stress across all Ps, goroutines mixed with threads the runtime does
// not own. Every phase checks conservation: each value whose send succeeded is received
// exactly once (count and sum), per-sender order is kept, and closing wakes every waiter.
//   1. many senders / many receivers on unbuffered, cap-1 and cap-64 channels;
//   2. select storms: goroutines and pthreads selecting over random mixes of send and
//      receive cases on shared channels with random deadlines (0, short, long);
//   3. close storms: many selects and receivers blocked on channels that are then closed.
// ENV: GORT_MAXPROCS=4
// ASAN: yes
// TSAN: yes
// TIMEOUT: 300
#include "check.h"
#include "gort.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

static const int64_t US = 1000;

static uint64_t xorshift(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* --- 1. many senders, many receivers, per-sender FIFO ---------------------------------- */
enum { SENDERS = 12, RECEIVERS = 12, PER_SENDER = 20000, TSENDERS = 2 };
static gort_chan *mm_ch;
static atomic_llong mm_recv_n, mm_recv_sum;
static atomic_int mm_senders_left, mm_receivers_left;

static void mm_send_all(long long id) {
    for (long long i = 0; i < PER_SENDER; i++) {
        long long v = id << 32 | i;
        CHECK_EQ(gort_chan_send(mm_ch, &v), 0);
    }
    if (atomic_fetch_sub(&mm_senders_left, 1) == 1) gort_chan_close(mm_ch);
}
static void mm_sender(void *arg) { mm_send_all((long long)(intptr_t)arg); }
static void *mm_thread_sender(void *arg) { mm_send_all((long long)(intptr_t)arg); return NULL; }

static void mm_receiver(void *arg) {
    (void)arg;
    long long last[SENDERS + TSENDERS];
    for (int i = 0; i < SENDERS + TSENDERS; i++) last[i] = -1;
    long long v, n = 0, sum = 0;
    while (gort_chan_recv(mm_ch, &v) == 1) {
        long long id = v >> 32, i = v & 0xffffffff;
        CHECK(id >= 0 && id < SENDERS + TSENDERS);
        CHECK(i > last[id]); /* one sender's values arrive in the order sent */
        last[id] = i;
        n++;
        sum += v;
    }
    atomic_fetch_add(&mm_recv_n, n);
    atomic_fetch_add(&mm_recv_sum, sum);
    atomic_fetch_sub(&mm_receivers_left, 1);
}

static void phase_many_to_many(size_t cap) {
    mm_ch = gort_chan_make(sizeof(long long), cap);
    atomic_store(&mm_recv_n, 0);
    atomic_store(&mm_recv_sum, 0);
    atomic_store(&mm_senders_left, SENDERS + TSENDERS);
    atomic_store(&mm_receivers_left, RECEIVERS);
    for (int i = 0; i < RECEIVERS; i++) CHECK_EQ(gort_go(mm_receiver, NULL), 0);
    for (int i = 0; i < SENDERS; i++) CHECK_EQ(gort_go(mm_sender, (void *)(intptr_t)i), 0);
    pthread_t t[TSENDERS];
    for (int i = 0; i < TSENDERS; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, mm_thread_sender, (void *)(intptr_t)(SENDERS + i)), 0);
    for (int i = 0; i < TSENDERS; i++) CHECK_EQ(pthread_join(t[i], NULL), 0);
    while (atomic_load(&mm_receivers_left) > 0) gort_sleep(1000 * US);
    long long total = (long long)(SENDERS + TSENDERS) * PER_SENDER;
    long long want_sum = 0;
    for (long long id = 0; id < SENDERS + TSENDERS; id++)
        want_sum += (id << 32) * PER_SENDER + (long long)PER_SENDER * (PER_SENDER - 1) / 2;
    CHECK_EQ(atomic_load(&mm_recv_n), total);
    CHECK_EQ(atomic_load(&mm_recv_sum), want_sum);
    gort_chan_release(mm_ch);
}

/* --- 2. select storms ------------------------------------------------------------------- */
enum { NSC = 4, STORMERS = 24, TSTORMERS = 3, STORM_OPS = 4000 };
static gort_chan *sc[NSC];
static atomic_llong st_sent_n, st_sent_sum, st_recv_n, st_recv_sum, st_timeouts, st_eagain;
static atomic_int st_left;

static void storm(uint64_t seed) {
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (int op = 0; op < STORM_OPS; op++) {
        gort_case cs[6];
        long long vals[6], bufs[6];
        size_t n = 1 + xorshift(&s) % 6;
        for (size_t i = 0; i < n; i++) {
            uint64_t r = xorshift(&s);
            vals[i] = (long long)(r >> 20); /* positive and varied */
            bufs[i] = -1;
            int dir = (r & 1) ? GORT_SEND : GORT_RECV;
            gort_chan *c = (r >> 1) % 8 == 0 ? NULL : sc[(r >> 4) % NSC];
            cs[i] = (gort_case){.chan = c, .dir = dir,
                                .elem = dir == GORT_SEND ? (void *)&vals[i] : (void *)&bufs[i]};
        }
        int64_t deadline;
        switch (xorshift(&s) % 4) {
        case 0: deadline = 0; break;
        case 1: deadline = gort_deadline_in((int64_t)(xorshift(&s) % 50) * US); break;
        case 2: deadline = gort_deadline_in((int64_t)(xorshift(&s) % 500) * US); break;
        default: deadline = gort_deadline_in(20000 * US); break;
        }
        int r = gort_select(cs, n, deadline);
        if (r == GORT_ETIMEDOUT) { atomic_fetch_add(&st_timeouts, 1); continue; }
        if (r == GORT_EAGAIN) { atomic_fetch_add(&st_eagain, 1); continue; }
        CHECK(r >= 0 && (size_t)r < n);
        CHECK(cs[r].chan != NULL);
        if (cs[r].dir == GORT_SEND) {
            atomic_fetch_add(&st_sent_n, 1);
            atomic_fetch_add(&st_sent_sum, vals[r]);
        } else {
            CHECK_EQ(cs[r].ok, 1); /* nothing is closed in this phase */
            CHECK(bufs[r] >= 0);
            atomic_fetch_add(&st_recv_n, 1);
            atomic_fetch_add(&st_recv_sum, bufs[r]);
        }
    }
    atomic_fetch_sub(&st_left, 1);
}
static void stormer(void *arg) { storm((uint64_t)(intptr_t)arg); }
static void *thread_stormer(void *arg) { storm((uint64_t)(intptr_t)arg); return NULL; }

static void phase_select_storm(void) {
    static const size_t caps[NSC] = {0, 0, 1, 16};
    for (int i = 0; i < NSC; i++) sc[i] = gort_chan_make(sizeof(long long), caps[i]);
    atomic_store(&st_left, STORMERS + TSTORMERS);
    for (int i = 0; i < STORMERS; i++) CHECK_EQ(gort_go(stormer, (void *)(intptr_t)(i + 1)), 0);
    pthread_t t[TSTORMERS];
    for (int i = 0; i < TSTORMERS; i++)
        CHECK_EQ(pthread_create(&t[i], NULL, thread_stormer, (void *)(intptr_t)(1000 + i)), 0);
    for (int i = 0; i < TSTORMERS; i++) CHECK_EQ(pthread_join(t[i], NULL), 0);
    while (atomic_load(&st_left) > 0) gort_sleep(1000 * US);
    /* Whatever is still buffered was sent but not received. */
    for (int i = 0; i < NSC; i++) {
        long long v;
        while (gort_chan_recv_until(sc[i], &v, 0) == 1) {
            atomic_fetch_add(&st_recv_n, 1);
            atomic_fetch_add(&st_recv_sum, v);
        }
    }
    CHECK_EQ(atomic_load(&st_recv_n), atomic_load(&st_sent_n));
    CHECK_EQ(atomic_load(&st_recv_sum), atomic_load(&st_sent_sum));
    CHECK(atomic_load(&st_sent_n) > 0);
    for (int i = 0; i < NSC; i++) gort_chan_release(sc[i]);
}

/* --- 3. close storms ---------------------------------------------------------------------- */
enum { CLOSE_ROUNDS = 200, CLOSE_WAITERS = 16 };
static gort_chan *cl_a, *cl_b;
static atomic_int cl_woken, cl_parked;

static void close_waiter(void *arg) {
    int kind = (int)(intptr_t)arg;
    atomic_fetch_add(&cl_parked, 1);
    if (kind == 0) {
        long long v = 1;
        CHECK_EQ(gort_chan_recv(cl_a, &v), 0);
        CHECK_EQ(v, 0);
    } else {
        long long x = 1, y = 1;
        gort_case cs[3] = {
            {.chan = cl_a, .dir = GORT_RECV, .elem = &x},
            {.chan = cl_b, .dir = GORT_RECV, .elem = &y},
            {.chan = NULL, .dir = GORT_SEND},
        };
        int r = gort_select(cs, 3, GORT_FOREVER);
        CHECK(r == 0 || r == 1);
        CHECK_EQ(cs[r].ok, 0);
    }
    atomic_fetch_add(&cl_woken, 1);
}
static void phase_close_storm(void) {
    for (int round = 0; round < CLOSE_ROUNDS; round++) {
        cl_a = gort_chan_make(sizeof(long long), round % 2);
        cl_b = gort_chan_make(sizeof(long long), 0);
        atomic_store(&cl_woken, 0);
        atomic_store(&cl_parked, 0);
        for (int i = 0; i < CLOSE_WAITERS; i++) CHECK_EQ(gort_go(close_waiter, (void *)(intptr_t)(i % 2)), 0);
        /* Close at varying points: before, while and after the waiters park. */
        while (atomic_load(&cl_parked) < (round % 3) * CLOSE_WAITERS / 2) gort_gosched();
        gort_chan_close(cl_a);
        gort_chan_close(cl_b);
        while (atomic_load(&cl_woken) < CLOSE_WAITERS) gort_gosched();
        gort_chan_release(cl_a);
        gort_chan_release(cl_b);
    }
}

static int main_goroutine(void *arg) {
    (void)arg;
    CHECK(gort_gomaxprocs(0) >= 1);
    phase_many_to_many(0);
    phase_many_to_many(1);
    phase_many_to_many(64);
    phase_select_storm();
    phase_close_storm();
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
