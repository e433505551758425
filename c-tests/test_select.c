// Select: Go's select semantics through the header — default and timeouts, the ok flag
// and zeroing on closed channels, uniform choice among ready cases (also when the same
// channel appears in several cases), NULL cases switched off, send cases to blocked
// receivers, close waking a select (receive: ok = 0; send: a panic), invalid arguments,
// a select never pairing with itself, and select from a thread the runtime does not own.
// VALGRIND: yes
// ASAN: yes
// TSAN: yes
// TIMEOUT: 180
#include "check.h"
#include "gort.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

static const int64_t MS = 1000000;

/* --- default and timeouts ------------------------------------------------------------ */
static void check_default_and_timeouts(void) {
    gort_chan *u = gort_chan_make(sizeof(int), 0);
    int v = 0;
    gort_case cs[2] = {
        {.chan = u, .dir = GORT_RECV, .elem = &v},
        {.chan = u, .dir = GORT_SEND, .elem = &v},
    };
    /* Nothing ready: deadline 0 is Go's default. */
    CHECK_EQ(gort_select(cs, 2, 0), GORT_EAGAIN);
    CHECK_EQ(gort_select(cs, 2, gort_now() - 1), GORT_EAGAIN);
    CHECK_EQ(gort_select(cs, 2, gort_deadline_in(20 * MS)), GORT_ETIMEDOUT);
    /* No cases at all, and only NULL cases: default, or the deadline. */
    CHECK_EQ(gort_select(NULL, 0, 0), GORT_EAGAIN);
    CHECK_EQ(gort_select(NULL, 0, gort_deadline_in(20 * MS)), GORT_ETIMEDOUT);
    gort_case off[3] = {
        {.chan = NULL, .dir = GORT_RECV, .elem = &v},
        {.chan = NULL, .dir = GORT_SEND, .elem = &v},
        {.chan = NULL, .dir = GORT_RECV, .elem = NULL},
    };
    CHECK_EQ(gort_select(off, 3, 0), GORT_EAGAIN);
    CHECK_EQ(gort_select(off, 3, gort_deadline_in(20 * MS)), GORT_ETIMEDOUT);
    /* A timed-out select left nothing queued: a non-blocking send finds no receiver. */
    CHECK_EQ(gort_chan_send_until(u, &v, 0), GORT_EAGAIN);
    gort_chan_release(u);
}

/* --- ready cases, ok flag, zeroing on close, NULL elem discards ----------------------- */
static void check_ready_and_closed(void) {
    gort_chan *b = gort_chan_make(sizeof(long long), 4);
    long long in = 42, out = -1;
    gort_case send_case = {.chan = b, .dir = GORT_SEND, .elem = &in};
    CHECK_EQ(gort_select(&send_case, 1, 0), 0);
    CHECK_EQ(gort_chan_len(b), 1);

    gort_case cs[2] = {
        {.chan = NULL, .dir = GORT_RECV, .elem = &out},
        {.chan = b, .dir = GORT_RECV, .elem = &out, .ok = -7},
    };
    CHECK_EQ(gort_select(cs, 2, GORT_FOREVER), 1);
    CHECK_EQ(cs[1].ok, 1);
    CHECK_EQ(out, 42);

    /* elem NULL: the value is received and discarded. */
    CHECK_EQ(gort_select(&send_case, 1, 0), 0);
    cs[1].elem = NULL;
    CHECK_EQ(gort_select(cs, 2, 0), 1);
    CHECK_EQ(cs[1].ok, 1);
    CHECK_EQ(gort_chan_len(b), 0);

    /* Closed: ready at once, ok = 0 and the element zeroed, as often as asked. */
    gort_chan_close(b);
    cs[1].elem = &out;
    for (int i = 0; i < 3; i++) {
        out = 0x5a5a5a5a;
        cs[1].ok = 9;
        CHECK_EQ(gort_select(cs, 2, GORT_FOREVER), 1);
        CHECK_EQ(cs[1].ok, 0);
        CHECK_EQ(out, 0);
    }
    gort_chan_release(b);
}

/* --- uniform choice -------------------------------------------------------------------- */
/* Several always-ready cases: each is chosen about equally often. With N selects and k
 * cases, a count is Binomial(N, 1/k); the bounds below are more than 10 standard
 * deviations wide, so an unbiased select fails them with negligible probability, while a
 * select that prefers the first (or last) ready case fails them at once. */
enum { FAIR_N = 20000 };
static void check_fairness_distinct(void) {
    enum { K = 4 };
    gort_chan *ch[K];
    gort_case cs[K];
    long long counts[K] = {0};
    int v = 0;
    for (int i = 0; i < K; i++) {
        ch[i] = gort_chan_make(sizeof(int), 1);
        CHECK_EQ(gort_chan_send(ch[i], &v), 0);
        cs[i] = (gort_case){.chan = ch[i], .dir = GORT_RECV, .elem = &v};
    }
    for (int n = 0; n < FAIR_N; n++) {
        int i = gort_select(cs, K, 0);
        CHECK(i >= 0 && i < K);
        counts[i]++;
        CHECK_EQ(gort_chan_send(ch[i], &v), 0); /* ready again */
    }
    for (int i = 0; i < K; i++) {
        CHECK(counts[i] > FAIR_N / K - 700 && counts[i] < FAIR_N / K + 700);
        gort_chan_release(ch[i]);
    }
}

/* The same channel in several cases, mixed with a NULL case that must never be chosen. */
static void check_fairness_duplicates(void) {
    gort_chan *c = gort_chan_make(0, 1);
    long long counts[4] = {0};
    gort_case cs[4] = {
        {.chan = c, .dir = GORT_RECV},
        {.chan = NULL, .dir = GORT_RECV},
        {.chan = c, .dir = GORT_RECV},
        {.chan = c, .dir = GORT_RECV},
    };
    for (int n = 0; n < FAIR_N; n++) {
        CHECK_EQ(gort_chan_send(c, NULL), 0);
        int i = gort_select(cs, 4, 0);
        CHECK(i >= 0 && i < 4);
        counts[i]++;
    }
    CHECK_EQ(counts[1], 0);
    for (int i = 0; i < 4; i += (i == 0 ? 2 : 1))
        CHECK(counts[i] > FAIR_N / 3 - 800 && counts[i] < FAIR_N / 3 + 800);
    CHECK_EQ(gort_chan_len(c), 0);
    gort_chan_release(c);
}

/* Send and receive ready at once on different channels: both directions get chosen. */
static void check_fairness_send_vs_recv(void) {
    gort_chan *full = gort_chan_make(sizeof(int), 1);
    gort_chan *empty = gort_chan_make(sizeof(int), 1);
    int v = 1, w = 0;
    CHECK_EQ(gort_chan_send(full, &v), 0);
    gort_case cs[2] = {
        {.chan = full, .dir = GORT_RECV, .elem = &w},
        {.chan = empty, .dir = GORT_SEND, .elem = &v},
    };
    long long counts[2] = {0};
    for (int n = 0; n < FAIR_N; n++) {
        int i = gort_select(cs, 2, 0);
        CHECK(i == 0 || i == 1);
        counts[i]++;
        if (i == 0) CHECK_EQ(gort_chan_send(full, &v), 0);
        else CHECK_EQ(gort_chan_recv(empty, &w), 1);
    }
    CHECK(counts[0] > FAIR_N / 2 - 1000 && counts[0] < FAIR_N / 2 + 1000);
    gort_chan_release(full);
    gort_chan_release(empty);
}

/* --- a send case completes a blocked receiver; a receive case a blocked sender --------- */
static atomic_int receiver_got;
static void blocked_receiver(void *arg) {
    long long v = 0;
    CHECK_EQ(gort_chan_recv(arg, &v), 1);
    atomic_store(&receiver_got, (int)v);
}
static void blocked_sender(void *arg) {
    long long v = 99;
    CHECK_EQ(gort_chan_send(arg, &v), 0);
}
static void check_handoff_with_waiters(void) {
    gort_chan *u = gort_chan_make(sizeof(long long), 0);
    gort_go(blocked_receiver, u);
    long long v = 17;
    gort_case cs[2] = {
        {.chan = NULL, .dir = GORT_SEND, .elem = &v},
        {.chan = u, .dir = GORT_SEND, .elem = &v},
    };
    CHECK_EQ(gort_select(cs, 2, GORT_FOREVER), 1);
    while (atomic_load(&receiver_got) == 0) gort_gosched();
    CHECK_EQ(atomic_load(&receiver_got), 17);

    gort_go(blocked_sender, u);
    long long got = 0;
    gort_case rc = {.chan = u, .dir = GORT_RECV, .elem = &got};
    CHECK_EQ(gort_select(&rc, 1, gort_deadline_in(60000 * MS)), 0);
    CHECK_EQ(rc.ok, 1);
    CHECK_EQ(got, 99);
    gort_chan_release(u);
}

/* --- a blocked select is woken by a sender, by a receiver, and by close ---------------- */
static atomic_int stage;
static void select_waiter(void *arg) {
    gort_chan **ch = arg; /* ch[0]: receive from, ch[1]: send to (never ready) */
    long long got = -1, out = 5;
    gort_case cs[2] = {
        {.chan = ch[0], .dir = GORT_RECV, .elem = &got},
        {.chan = ch[1], .dir = GORT_SEND, .elem = &out},
    };
    /* 1: woken by a sender. */
    CHECK_EQ(gort_select(cs, 2, GORT_FOREVER), 0);
    CHECK_EQ(cs[0].ok, 1);
    CHECK_EQ(got, 1234);
    atomic_store(&stage, 1);
    /* 2: woken by close. */
    got = 77;
    CHECK_EQ(gort_select(cs, 2, GORT_FOREVER), 0);
    CHECK_EQ(cs[0].ok, 0);
    CHECK_EQ(got, 0);
    atomic_store(&stage, 2);
}
static void check_wakeups(void) {
    gort_chan *ch[2] = {gort_chan_make(sizeof(long long), 0), gort_chan_make(sizeof(long long), 0)};
    atomic_store(&stage, 0);
    gort_go(select_waiter, ch);
    long long v = 1234;
    CHECK_EQ(gort_chan_send(ch[0], &v), 0);
    while (atomic_load(&stage) < 1) gort_gosched();
    /* Close only once the waiter is parked again (it may not have got there yet; either
     * way it must see the close). */
    gort_sleep(MS);
    gort_chan_close(ch[0]);
    while (atomic_load(&stage) < 2) gort_gosched();
    gort_chan_release(ch[0]);
    gort_chan_release(ch[1]);
}

/* A select blocked with a send case on a channel that gets closed panics, like Go. */
static atomic_int panicked_selecting;
static void select_send_body(void *arg) {
    int v = 1;
    gort_case cs[2] = {
        {.chan = NULL, .dir = GORT_RECV},
        {.chan = arg, .dir = GORT_SEND, .elem = &v},
    };
    atomic_store(&panicked_selecting, 1);
    gort_select(cs, 2, GORT_FOREVER);
    CHECK(0 && "select returned from a send on a closed channel");
}
static atomic_int protect_result;
static void select_send_goroutine(void *arg) {
    const char *msg = NULL;
    int r = gort_protect(select_send_body, arg, &msg);
    CHECK_EQ(r, 1);
    CHECK(msg && strstr(msg, "send on closed channel"));
    atomic_store(&protect_result, 1);
}
static void check_close_panics_sender_select(void) {
    gort_chan *u = gort_chan_make(sizeof(int), 0);
    gort_go(select_send_goroutine, u);
    while (!atomic_load(&panicked_selecting)) gort_gosched();
    gort_sleep(MS);
    gort_chan_close(u);
    while (!atomic_load(&protect_result)) gort_gosched();
    /* And without waiting: a ready send case on a closed channel panics at once. */
    const char *msg = NULL;
    CHECK_EQ(gort_protect(select_send_body, u, &msg), 1);
    CHECK(msg && strstr(msg, "send on closed channel"));
    gort_chan_release(u);
}

/* --- invalid arguments ------------------------------------------------------------------ */
static void check_einval(void) {
    gort_chan *c = gort_chan_make(sizeof(int), 1);
    gort_chan *z = gort_chan_make(0, 1);
    CHECK_EQ(gort_select(NULL, 1, 0), GORT_EINVAL);
    gort_case bad_dir = {.chan = c, .dir = 3};
    CHECK_EQ(gort_select(&bad_dir, 1, 0), GORT_EINVAL);
    bad_dir.dir = 0;
    CHECK_EQ(gort_select(&bad_dir, 1, 0), GORT_EINVAL);
    gort_case null_elem = {.chan = c, .dir = GORT_SEND, .elem = NULL};
    CHECK_EQ(gort_select(&null_elem, 1, 0), GORT_EINVAL);
    CHECK_EQ(gort_chan_len(c), 0);
    /* NULL elem is fine for a zero-size send and for any receive. */
    gort_case zero_send = {.chan = z, .dir = GORT_SEND, .elem = NULL};
    CHECK_EQ(gort_select(&zero_send, 1, 0), 0);
    CHECK_EQ(gort_chan_len(z), 1);
    gort_case big[2] = {{.chan = c, .dir = GORT_RECV}, {.chan = c, .dir = GORT_RECV}};
    CHECK_EQ(gort_select(big, (size_t)GORT_SELECT_MAX_CASES + 1, 0), GORT_EINVAL);
    gort_chan_release(c);
    gort_chan_release(z);
}

/* --- many cases (more than the on-stack scratch) -------------------------------------- */
static void check_many_cases(void) {
    enum { K = 100 };
    gort_chan *c[K];
    gort_case cs[K];
    int v = 0;
    for (int i = 0; i < K; i++) {
        c[i] = gort_chan_make(sizeof(int), 1);
        cs[i] = (gort_case){.chan = c[i], .dir = GORT_RECV, .elem = &v};
    }
    CHECK_EQ(gort_select(cs, K, 0), GORT_EAGAIN);
    int w = 63;
    CHECK_EQ(gort_chan_send(c[63], &w), 0);
    CHECK_EQ(gort_select(cs, K, GORT_FOREVER), 63);
    CHECK_EQ(v, 63);
    for (int i = 0; i < K; i++) gort_chan_release(c[i]);
}

/* --- a select never pairs with itself (Go's TestSelfSelect) --------------------------- */
enum { SELF_ROUNDS = 2000 };
static gort_chan *self_ch;
static atomic_int self_done;
static void self_selector(void *arg) {
    int me = (int)(intptr_t)arg;
    for (int i = 0; i < SELF_ROUNDS; i++) {
        int send = me, got = -1;
        gort_case cs[2] = {
            {.chan = self_ch, .dir = GORT_SEND, .elem = &send},
            {.chan = self_ch, .dir = GORT_RECV, .elem = &got},
        };
        int r = gort_select(cs, 2, GORT_FOREVER);
        CHECK(r == 0 || r == 1);
        if (r == 1) {
            CHECK_EQ(cs[1].ok, 1);
            if (gort_chan_cap(self_ch) == 0) CHECK(got != me); /* self receive */
        }
    }
    atomic_fetch_add(&self_done, 1);
}
static void check_self_select(size_t cap) {
    self_ch = gort_chan_make(sizeof(int), cap);
    atomic_store(&self_done, 0);
    gort_go(self_selector, (void *)(intptr_t)1);
    gort_go(self_selector, (void *)(intptr_t)2);
    while (atomic_load(&self_done) < 2) gort_sleep(MS);
    gort_chan_release(self_ch);
}

/* --- two selects feeding each other ------------------------------------------------------ */
/* Each side selects between sending its counter to the other and receiving the other's;
 * every round exactly one transfer happens between them, so the totals must match. */
enum { PAIR_ROUNDS = 5000 };
static gort_chan *a_to_b, *b_to_a;
static atomic_llong pair_sent[2], pair_recv[2];
static atomic_int pair_done;
static void pair_side(void *arg) {
    int me = (int)(intptr_t)arg;
    gort_chan *out = me ? b_to_a : a_to_b, *in = me ? a_to_b : b_to_a;
    for (long long i = 0; i < PAIR_ROUNDS; i++) {
        long long v = i, got = 0;
        gort_case cs[2] = {
            {.chan = out, .dir = GORT_SEND, .elem = &v},
            {.chan = in, .dir = GORT_RECV, .elem = &got},
        };
        int r = gort_select(cs, 2, GORT_FOREVER);
        if (r == 0) atomic_fetch_add(&pair_sent[me], v + 1);
        else { CHECK_EQ(r, 1); atomic_fetch_add(&pair_recv[me], got + 1); }
    }
    atomic_fetch_add(&pair_done, 1);
}
static void check_pair(void) {
    a_to_b = gort_chan_make(sizeof(long long), 0);
    b_to_a = gort_chan_make(sizeof(long long), 0);
    gort_go(pair_side, (void *)0);
    gort_go(pair_side, (void *)1);
    while (atomic_load(&pair_done) < 2) gort_sleep(MS);
    CHECK_EQ(atomic_load(&pair_sent[0]), atomic_load(&pair_recv[1]));
    CHECK_EQ(atomic_load(&pair_sent[1]), atomic_load(&pair_recv[0]));
    gort_chan_release(a_to_b);
    gort_chan_release(b_to_a);
}

/* --- select from a thread the runtime does not own ------------------------------------- */
static atomic_int thread_stage;
static void *thread_selector(void *arg) {
    gort_chan **ch = arg;
    long long got = 0;
    gort_case cs[3] = {
        {.chan = ch[0], .dir = GORT_RECV, .elem = &got},
        {.chan = NULL, .dir = GORT_SEND},
        {.chan = ch[1], .dir = GORT_RECV, .elem = &got},
    };
    CHECK_EQ(gort_select(cs, 3, 0), GORT_EAGAIN);
    CHECK_EQ(gort_select(cs, 3, gort_deadline_in(20 * MS)), GORT_ETIMEDOUT);
    atomic_store(&thread_stage, 1);
    int r = gort_select(cs, 3, GORT_FOREVER); /* a goroutine sends on ch[1] */
    CHECK_EQ(r, 2);
    CHECK_EQ(got, 31);
    r = gort_select(cs, 3, gort_deadline_in(60000 * MS)); /* then closes ch[0] */
    CHECK_EQ(r, 0);
    CHECK_EQ(cs[0].ok, 0);
    return NULL;
}
static void check_foreign_thread(void) {
    gort_chan *ch[2] = {gort_chan_make(sizeof(long long), 0), gort_chan_make(sizeof(long long), 0)};
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, thread_selector, ch), 0);
    while (!atomic_load(&thread_stage)) gort_sleep(MS);
    long long v = 31;
    CHECK_EQ(gort_chan_send(ch[1], &v), 0);
    gort_chan_close(ch[0]);
    CHECK_EQ(pthread_join(t, NULL), 0);
    gort_chan_release(ch[0]);
    gort_chan_release(ch[1]);
}

static int main_goroutine(void *arg) {
    (void)arg;
    check_default_and_timeouts();
    check_ready_and_closed();
    check_fairness_distinct();
    check_fairness_duplicates();
    check_fairness_send_vs_recv();
    check_handoff_with_waiters();
    check_wakeups();
    check_close_panics_sender_select();
    check_einval();
    check_many_cases();
    check_self_select(0);
    check_self_select(1);
    check_pair();
    check_foreign_thread();
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
