// Channels: Go's channel semantics through the header (unbuffered hand-off, buffered FIFO,
// close, zero-size elements, len/cap, misuse panics, plain threads, a prime sieve).
// VALGRIND: yes
// ASAN: yes
// TSAN: yes
// TIMEOUT: 120
#include "check.h"
#include "gort.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

/* --- unbuffered ping-pong ------------------------------------------------------------ */
typedef struct { gort_chan *ping, *pong; int rounds; } pingpong;

static void ponger(void *arg) {
    pingpong *pp = arg;
    for (int i = 0; i < pp->rounds; i++) {
        int64_t v;
        CHECK_EQ(gort_chan_recv(pp->ping, &v), 1);
        v += 1;
        CHECK_EQ(gort_chan_send(pp->pong, &v), 0);
    }
}

static void check_ping_pong(void) {
    /* static: the ponger still reads it after our last receive returns */
    static pingpong pp;
    pp = (pingpong){gort_chan_make(sizeof(int64_t), 0), gort_chan_make(sizeof(int64_t), 0), 10000};
    CHECK(pp.ping && pp.pong);
    CHECK_EQ(gort_chan_cap(pp.ping), 0);
    gort_go(ponger, &pp);
    for (int64_t i = 0; i < pp.rounds; i++) {
        CHECK_EQ(gort_chan_send(pp.ping, &i), 0);
        int64_t v = -1;
        CHECK_EQ(gort_chan_recv(pp.pong, &v), 1);
        CHECK_EQ(v, i + 1);
    }
    gort_chan_release(pp.ping);
    gort_chan_release(pp.pong);
}

/* --- per-sender FIFO with many senders --------------------------------------------- */
enum { SENDERS = 8, PER_SENDER = 2000 };
typedef struct { gort_chan *c; int id; } sender_arg;

static void sender(void *arg) {
    sender_arg *a = arg;
    for (int i = 0; i < PER_SENDER; i++) {
        int32_t v[2] = {a->id, i};
        CHECK_EQ(gort_chan_send(a->c, v), 0);
    }
}

static void check_fifo_per_sender(size_t cap) {
    gort_chan *c = gort_chan_make(2 * sizeof(int32_t), cap);
    static sender_arg args[SENDERS];
    for (int s = 0; s < SENDERS; s++) {
        args[s] = (sender_arg){c, s};
        gort_go(sender, &args[s]);
    }
    int next[SENDERS] = {0};
    for (int n = 0; n < SENDERS * PER_SENDER; n++) {
        int32_t v[2];
        CHECK_EQ(gort_chan_recv(c, v), 1);
        CHECK(v[0] >= 0 && v[0] < SENDERS);
        CHECK_EQ(v[1], next[v[0]]); /* each sender's values arrive in order */
        next[v[0]]++;
    }
    gort_chan_release(c);
}

/* --- buffered: len, FIFO, close drains then reports closed ------------------------- */
static void check_buffered_and_close(void) {
    gort_chan *c = gort_chan_make(sizeof(int), 3);
    CHECK_EQ(gort_chan_cap(c), 3);
    for (int i = 0; i < 3; i++) CHECK_EQ(gort_chan_send(c, &i), 0);
    CHECK_EQ(gort_chan_len(c), 3);
    CHECK_EQ(gort_chan_close(c), 0);
    for (int i = 0; i < 3; i++) {
        int v = -1;
        CHECK_EQ(gort_chan_recv(c, &v), 1);
        CHECK_EQ(v, i);
    }
    int v = 77;
    CHECK_EQ(gort_chan_recv(c, &v), 0); /* closed and drained */
    CHECK_EQ(v, 0);                     /* the zero value, like Go */
    CHECK_EQ(gort_chan_recv(c, NULL), 0);
    CHECK_EQ(gort_chan_len(c), 0);
    gort_chan_release(c);
}

/* --- close wakes every blocked receiver --------------------------------------------- */
static atomic_int closed_seen;
static void blocked_receiver(void *arg) {
    int v = 5;
    if (gort_chan_recv(arg, &v) == 0 && v == 0) atomic_fetch_add(&closed_seen, 1);
}

static void check_close_wakes_receivers(void) {
    gort_chan *c = gort_chan_make(sizeof(int), 0);
    for (int i = 0; i < 50; i++) gort_go(blocked_receiver, c);
    gort_sleep(5 * 1000000LL);
    gort_chan_close(c);
    while (atomic_load(&closed_seen) < 50) gort_sleep(1000000);
    gort_chan_release(c);
}

/* --- zero-size elements ------------------------------------------------------------- */
static void zero_sender(void *arg) {
    for (int i = 0; i < 1000; i++) CHECK_EQ(gort_chan_send(arg, NULL), 0);
    gort_chan_close(arg);
}

static void check_zero_size(void) {
    gort_chan *c = gort_chan_make(0, 0);
    gort_go(zero_sender, c);
    int n = 0;
    while (gort_chan_recv(c, NULL) == 1) n++;
    CHECK_EQ(n, 1000);
    gort_chan_release(c);
    gort_chan *b = gort_chan_make(0, 5);
    for (int i = 0; i < 5; i++) CHECK_EQ(gort_chan_send(b, NULL), 0);
    CHECK_EQ(gort_chan_len(b), 5);
    gort_chan_release(b);
}

/* --- misuse: Go panics, recoverable --------------------------------------------------- */
static void send_on_closed(void *arg) { int v = 1; gort_chan_send(arg, &v); }
static void close_twice(void *arg) { gort_chan_close(arg); }
static void close_nil(void *arg) { (void)arg; gort_chan_close(NULL); }

static void check_misuse(void) {
    gort_chan *c = gort_chan_make(sizeof(int), 1);
    gort_chan_close(c);
    const char *msg = NULL;
    CHECK_EQ(gort_protect(send_on_closed, c, &msg), 1);
    CHECK(strcmp(msg, "send on closed channel") == 0);
    CHECK_EQ(gort_protect(close_twice, c, &msg), 1);
    CHECK(strcmp(msg, "close of closed channel") == 0);
    CHECK_EQ(gort_protect(close_nil, NULL, &msg), 1);
    CHECK(strcmp(msg, "close of nil channel") == 0);
    gort_chan_release(c);

    /* Bad arguments are errors, not crashes. */
    errno = 0;
    CHECK(gort_chan_make(SIZE_MAX, 2) == NULL);
    CHECK_EQ(errno, EINVAL);
    gort_chan *d = gort_chan_make(8, 1);
    CHECK_EQ(gort_chan_send(d, NULL), GORT_EINVAL);
    gort_chan_release(d);
    CHECK_EQ(gort_chan_len(NULL), 0);
    CHECK_EQ(gort_chan_cap(NULL), 0);
    gort_chan_retain(NULL);
    gort_chan_release(NULL);
}

/* --- plain threads send and receive (blocking the thread) --------------------------- */
static void *thread_sender(void *arg) {
    for (int i = 0; i < 1000; i++) CHECK_EQ(gort_chan_send(arg, &i), 0);
    return NULL;
}
static void goroutine_echo(void *arg) {
    gort_chan **cs = arg;
    int v;
    while (gort_chan_recv(cs[0], &v) == 1) CHECK_EQ(gort_chan_send(cs[1], &v), 0);
    gort_chan_close(cs[1]);
}

static void check_threads(void) {
    static gort_chan *cs[2];
    cs[0] = gort_chan_make(sizeof(int), 0);
    cs[1] = gort_chan_make(sizeof(int), 4);
    gort_go(goroutine_echo, cs);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, thread_sender, cs[0]), 0);
    for (int i = 0; i < 1000; i++) {
        int v = -1;
        CHECK_EQ(gort_chan_recv(cs[1], &v), 1);
        CHECK_EQ(v, i);
    }
    CHECK_EQ(pthread_join(t, NULL), 0);
    gort_chan_close(cs[0]);
    CHECK_EQ(gort_chan_recv(cs[1], NULL), 0);
    gort_chan_release(cs[0]);
    gort_chan_release(cs[1]);
}

/* --- the prime sieve (Go's classic concurrent example) -------------------------------- */
static void generate(void *arg) {
    for (int i = 2;; i++) gort_chan_send(arg, &i);
}
typedef struct { gort_chan *in, *out; int prime; } filter_arg;
static void filter(void *arg) {
    filter_arg *f = arg;
    int v;
    for (;;) {
        gort_chan_recv(f->in, &v);
        if (v % f->prime != 0) gort_chan_send(f->out, &v);
    }
}

static void check_sieve(void) {
    static const int first[] = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47};
    static filter_arg filters[100];
    gort_chan *ch = gort_chan_make(sizeof(int), 0);
    gort_go(generate, ch);
    int last = 0;
    for (int i = 0; i < 100; i++) {
        int prime;
        CHECK_EQ(gort_chan_recv(ch, &prime), 1);
        if (i < 15) CHECK_EQ(prime, first[i]);
        last = prime;
        gort_chan *ch1 = gort_chan_make(sizeof(int), 0);
        filters[i] = (filter_arg){ch, ch1, prime};
        gort_go(filter, &filters[i]);
        ch = ch1;
    }
    CHECK_EQ(last, 541); /* the 100th prime */
    /* The generator and filters stay blocked; the program ends with main. */
}

static int main_goroutine(void *arg) {
    (void)arg;
    check_ping_pong();
    check_fifo_per_sender(0);
    check_fifo_per_sender(16);
    check_buffered_and_close();
    check_close_wakes_receivers();
    check_zero_size();
    check_misuse();
    check_threads();
    check_sieve();
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
