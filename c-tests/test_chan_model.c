// Randomised model test: thousands of random sequences of channel operations (non-blocking
// send and receive, close, len/cap, select with default over random mixes of send, receive,
// NULL and duplicate cases, send on closed and close of closed caught with gort_protect),
// each checked step by step against a reference model — a byte queue and a closed flag
// per channel. Channels vary in capacity (0..5) and element size (0, 1, 8, 24), so
// unbuffered, buffered, full, empty, closed-with-data and zero-size paths are all hit.
// One goroutine runs the sequences, so the model is exact: a non-blocking operation is
// ready precisely when the model says it is. The seed can be set with GORT_MODEL_SEED.
// ASAN: yes
// TIMEOUT: 180
#include "check.h"
#include "gort.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NCHAN = 3, MAXCAP = 5, MAXELEM = 24, SEQUENCES = 3000, OPS = 120 };

static uint64_t rng;
static uint64_t next_rand(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static unsigned below(unsigned n) { return (unsigned)(next_rand() % n); }

typedef struct model {
    gort_chan *c;
    size_t cap, esize;
    int closed;
    size_t len;
    unsigned char q[MAXCAP][MAXELEM];
} model;

static model ms[NCHAN];
static long long stats_sent, stats_recv, stats_select, stats_eagain, stats_closed_recv, stats_panics;

static void fill(unsigned char *buf, size_t n) {
    for (size_t i = 0; i < n; i++) buf[i] = (unsigned char)next_rand();
}
static int send_ready(const model *m) { return m->closed || m->len < m->cap; }
static int recv_ready(const model *m) { return m->closed || m->len > 0; }

/* Apply a successful send to the model (never called when closed). */
static void model_push(model *m, const unsigned char *v) {
    CHECK(m->len < m->cap);
    memcpy(m->q[m->len++], v, m->esize);
}
/* Apply a receive to the model; returns 1 with the head in out, or 0 when closed+empty. */
static int model_pop(model *m, unsigned char *out) {
    if (m->len > 0) {
        memcpy(out, m->q[0], m->esize);
        memmove(m->q[0], m->q[1], (m->len - 1) * sizeof m->q[0]);
        m->len--;
        return 1;
    }
    CHECK(m->closed);
    memset(out, 0, m->esize);
    return 0;
}

/* Operations that panic run inside gort_protect. */
struct send_args { gort_chan *c; const void *v; };
static void do_send(void *arg) { struct send_args *a = arg; gort_chan_send_until(a->c, a->v, 0); }
static void do_close(void *arg) { gort_chan_close(arg); }
struct select_args { gort_case *cs; size_t n; int result; };
static void do_select(void *arg) { struct select_args *a = arg; a->result = gort_select(a->cs, a->n, 0); }

static void op_send(model *m) {
    unsigned char v[MAXELEM];
    fill(v, m->esize);
    if (m->closed) {
        struct send_args a = {m->c, v};
        const char *msg = NULL;
        CHECK_EQ(gort_protect(do_send, &a, &msg), 1);
        CHECK(msg && strstr(msg, "send on closed channel"));
        stats_panics++;
        return;
    }
    int rc = gort_chan_send_until(m->c, v, 0);
    if (send_ready(m)) {
        CHECK_EQ(rc, 0);
        model_push(m, v);
        stats_sent++;
    } else {
        CHECK_EQ(rc, GORT_EAGAIN);
        stats_eagain++;
    }
}

static void op_recv(model *m) {
    unsigned char got[MAXELEM], want[MAXELEM];
    memset(got, 0xee, sizeof got);
    int discard = below(4) == 0;
    int rc = gort_chan_recv_until(m->c, discard ? NULL : got, 0);
    if (!recv_ready(m)) {
        CHECK_EQ(rc, GORT_EAGAIN);
        stats_eagain++;
        return;
    }
    int ok = model_pop(m, want);
    CHECK_EQ(rc, ok);
    if (!discard) CHECK(memcmp(got, want, m->esize) == 0);
    if (ok) stats_recv++;
    else stats_closed_recv++;
}

static void op_close(model *m) {
    if (m->closed) {
        const char *msg = NULL;
        CHECK_EQ(gort_protect(do_close, m->c, &msg), 1);
        CHECK(msg && strstr(msg, "close of closed channel"));
        stats_panics++;
        return;
    }
    gort_chan_close(m->c);
    m->closed = 1;
}

static void op_select(void) {
    enum { MAXCASES = 6 };
    size_t n = below(MAXCASES + 1);
    gort_case cs[MAXCASES];
    model *which[MAXCASES];
    unsigned char vals[MAXCASES][MAXELEM], bufs[MAXCASES][MAXELEM];
    int ready[MAXCASES], nready = 0, send_closed = 0;
    for (size_t i = 0; i < n; i++) {
        int off = below(6) == 0;
        model *m = &ms[below(NCHAN)]; /* duplicates happen often with 3 channels */
        which[i] = off ? NULL : m;
        int dir = below(2) ? GORT_SEND : GORT_RECV;
        fill(vals[i], MAXELEM);
        memset(bufs[i], 0xee, MAXELEM);
        cs[i] = (gort_case){.chan = off ? NULL : m->c, .dir = dir,
                            .elem = dir == GORT_SEND ? (void *)vals[i] : (void *)bufs[i],
                            .ok = -1};
        ready[i] = !off && (dir == GORT_SEND ? send_ready(m) : recv_ready(m));
        nready += ready[i];
        if (!off && dir == GORT_SEND && m->closed) send_closed = 1;
    }
    stats_select++;
    struct select_args a = {cs, n, 0};
    const char *msg = NULL;
    int panicked = gort_protect(do_select, &a, &msg);
    if (panicked) {
        /* Only a chosen send case on a closed channel may panic. */
        CHECK(send_closed);
        CHECK(msg && strstr(msg, "send on closed channel"));
        stats_panics++;
        return;
    }
    if (nready == 0) {
        CHECK_EQ(a.result, GORT_EAGAIN);
        stats_eagain++;
        return;
    }
    int i = a.result;
    CHECK(i >= 0 && (size_t)i < n);
    CHECK(ready[i]);
    model *m = which[i];
    CHECK(!(cs[i].dir == GORT_SEND && m->closed)); /* that one would have panicked */
    if (cs[i].dir == GORT_SEND) {
        model_push(m, vals[i]);
        stats_sent++;
    } else {
        unsigned char want[MAXELEM];
        int ok = model_pop(m, want);
        CHECK_EQ(cs[i].ok, ok);
        CHECK(memcmp(bufs[i], want, m->esize) == 0);
        if (ok) stats_recv++;
        else stats_closed_recv++;
    }
}

static void run_sequence(void) {
    static const size_t sizes[] = {0, 1, 8, 24};
    for (int k = 0; k < NCHAN; k++) {
        model *m = &ms[k];
        memset(m, 0, sizeof *m);
        m->cap = below(MAXCAP + 1);
        m->esize = sizes[below(4)];
        m->c = gort_chan_make(m->esize, m->cap);
        CHECK(m->c != NULL);
    }
    for (int op = 0; op < OPS; op++) {
        model *m = &ms[below(NCHAN)];
        unsigned r = below(100);
        if (r < 30) op_send(m);
        else if (r < 60) op_recv(m);
        else if (r < 62) op_close(m);
        else op_select();
        for (int k = 0; k < NCHAN; k++) {
            CHECK_EQ(gort_chan_len(ms[k].c), ms[k].len);
            CHECK_EQ(gort_chan_cap(ms[k].c), ms[k].cap);
        }
    }
    for (int k = 0; k < NCHAN; k++) gort_chan_release(ms[k].c);
}

static int main_goroutine(void *arg) {
    (void)arg;
    const char *s = getenv("GORT_MODEL_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 0) : 0x9e3779b97f4a7c15ull;
    if (seed == 0) seed = 1;
    rng = seed;
    for (int i = 0; i < SEQUENCES; i++) run_sequence();
    printf("seed %#llx: %d sequences, %lld sends, %lld receives, %lld closed receives, "
           "%lld selects, %lld would-block, %lld panics\n",
           (unsigned long long)seed, SEQUENCES, stats_sent, stats_recv, stats_closed_recv,
           stats_select, stats_eagain, stats_panics);
    /* The mix really exercised every outcome. */
    CHECK(stats_sent > 1000 && stats_recv > 1000 && stats_closed_recv > 100);
    CHECK(stats_eagain > 1000 && stats_panics > 100);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
