/* Every kind of root keeps an object alive through many collections: a local of a parked
 * goroutine, a local of a goroutine busy in a C loop for 100 ms (the world stops it with a
 * signal), a registered global, a buffered channel's buffer, an element in flight from a
 * blocked sender in malloc'ed memory, a timer's argument, a goroutine's entry argument
 * before it first runs, a finalizer's argument, a foreign thread's stack, and the stack of
 * a foreign thread blocked inside a gort call (asleep in the runtime: the collector holds
 * it without a signal, from the registers and stack pointer it recorded going to sleep).
 *
 * Each object carries a pattern and a cleanup that counts it dead: an object reported
 * dead while still reachable, or a pattern overwritten (gcpoison fills freed objects
 * with 0xdb), fails the test. */
// ENV: GORT_DEBUG=gcpoison=1,gcstress=50
// ENV: GORT_MAXPROCS=2
// VALGRIND: yes
// ASAN: yes
// TIMEOUT: 300
// CONCURRENT: yes
#include "check.h"
#include <gort.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { KINDS = 11, WORDS = 6 };
struct obj {
    struct obj *next;
    uint64_t pattern[WORDS];
};

static const gort_type *obj_type;
static volatile int dead[KINDS + 1];

static void count_dead(void *arg) { dead[(intptr_t)arg]++; }

static uint64_t pattern_of(int kind, int w) { return 0x5eed000000000000ull ^ ((uint64_t)kind << 8) ^ (uint64_t)w; }

/* A fresh object for root kind `kind`, with a cleanup that records its death. */
static struct obj *make(int kind) {
    struct obj *o = gort_new(obj_type);
    CHECK(o != NULL);
    for (int w = 0; w < WORDS; w++) o->pattern[w] = pattern_of(kind, w);
    CHECK_EQ(gort_add_cleanup(o, count_dead, (void *)(intptr_t)kind), 0);
    return o;
}

static void check_alive(struct obj *o, int kind) {
    CHECK(o != NULL);
    CHECK_EQ(dead[kind], 0);
    for (int w = 0; w < WORDS; w++) CHECK(o->pattern[w] == pattern_of(kind, w));
}

/* Garbage and collections (gcstress also collects every 50 allocations). */
static void churn(int rounds) {
    for (int r = 0; r < rounds; r++) {
        for (int i = 0; i < 200; i++) CHECK(gort_new(obj_type) != NULL);
        gort_gc();
    }
}

/* 1: a local of a parked goroutine. */
static gort_chan *wake1;
static gort_waitgroup wg;
static void parked(void *arg) {
    (void)arg;
    struct obj *o = make(1);
    int v;
    CHECK_EQ(gort_chan_recv(wake1, &v), 1);
    check_alive(o, 1);
    gort_waitgroup_done(&wg);
}

/* 2: a local of a goroutine in a long C loop (no gort call: the collector stops it). */
static atomic_int looping;
static void busy(void *arg) {
    (void)arg;
    struct obj *o = make(2);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    uint64_t acc = 0;
    atomic_store(&looping, 1);
    do {
        acc += o->pattern[acc % WORDS] & 1; /* keep o in use (a register, likely) */
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000000000LL + (t.tv_nsec - t0.tv_nsec) < 100000000LL);
    CHECK(acc > 0 || acc == 0);
    check_alive(o, 2);
    gort_waitgroup_done(&wg);
}

/* 3: a registered global. */
static struct obj *global3;

/* 5: an element in flight from a sender blocked on an unbuffered channel; the element's
 * buffer is malloc'ed, so only the channel's record of it reaches the object. */
static gort_chan *unbuf5;
static void sender5(void *arg) {
    (void)arg;
    struct obj **box = malloc(sizeof *box);
    CHECK(box != NULL);
    *box = make(5);
    CHECK_EQ(gort_chan_send(unbuf5, box), 0);
    *box = NULL;
    free(box);
    gort_waitgroup_done(&wg);
}

/* 6: a timer's argument. */
static gort_chan *fired6;
static void timer_fn(void *arg) {
    check_alive(arg, 6);
    int one = 1;
    CHECK_EQ(gort_chan_send(fired6, &one), 0);
}

/* 7: a goroutine's entry argument before it first runs. */
static void entry7(void *arg) {
    check_alive(arg, 7);
    gort_waitgroup_done(&wg);
}

/* 8: a finalizer's argument: the finalizer's object dies, its argument must not. */
static volatile int finalized8;
static void finalizer8(void *obj, void *arg) {
    (void)obj;
    check_alive(arg, 8);
    finalized8 = 1;
}

/* The finalizer's object, made in a frame of its own so no stale copy stays in ours. */
static __attribute__((noinline)) void make_holder8(void) {
    struct obj *holder = gort_new(obj_type);
    CHECK(holder != NULL);
    CHECK_EQ(gort_set_finalizer(holder, finalizer8, make(8)), 0);
}

/* 9: a foreign thread's stack (registered by its first gort call). */
static atomic_int thread_ready, thread_go;
static void *foreign(void *arg) {
    (void)arg;
    struct obj *o = make(9);
    atomic_store(&thread_ready, 1);
    while (!atomic_load(&thread_go)) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    check_alive(o, 9);
    return NULL;
}

/* 10: an element queued in a select's send case, blocked: as 5, through select. */
static gort_chan *sel10;
static void selector10(void *arg) {
    (void)arg;
    struct obj **box = malloc(sizeof *box);
    CHECK(box != NULL);
    *box = make(10);
    gort_case c = {.chan = sel10, .dir = GORT_SEND, .elem = box};
    CHECK_EQ(gort_select(&c, 1, GORT_FOREVER), 0);
    *box = NULL;
    free(box);
    gort_waitgroup_done(&wg);
}

/* 11: a foreign thread blocked in gort_chan_recv, its object only in its own frame. */
static gort_chan *wake11;
static atomic_int thread11_ready;
static void *foreign11(void *arg) {
    (void)arg;
    struct obj *o = make(11);
    atomic_store(&thread11_ready, 1);
    int v = 0;
    CHECK_EQ(gort_chan_recv(wake11, &v), 1);
    CHECK_EQ(v, 11);
    check_alive(o, 11);
    return NULL;
}

static int body(void *arg) {
    (void)arg;
    static const size_t ptrs[] = {offsetof(struct obj, next)};
    obj_type = gort_type_new("obj", sizeof(struct obj), ptrs, 1);
    CHECK(obj_type != NULL);

    wake1 = gort_chan_make(sizeof(int), 0);
    unbuf5 = gort_chan_make(sizeof(struct obj *), 0);
    fired6 = gort_chan_make(sizeof(int), 1);
    sel10 = gort_chan_make(sizeof(struct obj *), 0);
    gort_waitgroup_add(&wg, 5);

    CHECK(gort_go(parked, NULL) == 0);
    CHECK(gort_go(busy, NULL) == 0);
    CHECK_EQ(gort_root_add(&global3, sizeof global3), 0);
    global3 = make(3);
    gort_chan *buf4 = gort_chan_make(sizeof(struct obj *), 4);
    {
        struct obj *o = make(4);
        CHECK_EQ(gort_chan_send(buf4, &o), 0);
        o = NULL;
    }
    CHECK(gort_go(sender5, NULL) == 0);
    gort_timer *t6 = gort_after_func(200000000, timer_fn, make(6));
    CHECK(t6 != NULL);
    CHECK(gort_go(entry7, make(7)) == 0); /* main keeps running: it has not started yet */
    make_holder8();
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, foreign, NULL), 0);
    CHECK(gort_go(selector10, NULL) == 0);
    wake11 = gort_chan_make(sizeof(int), 0);
    pthread_t th11;
    CHECK_EQ(pthread_create(&th11, NULL, foreign11, NULL), 0);
    while (!atomic_load(&looping) || !atomic_load(&thread_ready) || !atomic_load(&thread11_ready)) gort_gosched();

    churn(20); /* about 20 + 4000/50 collections while every root holds its object */

    int one = 1;
    CHECK_EQ(gort_chan_send(wake1, &one), 0);
    check_alive(global3, 3);
    struct obj *got = NULL;
    CHECK_EQ(gort_chan_recv(buf4, &got), 1);
    check_alive(got, 4);
    CHECK_EQ(gort_chan_recv(unbuf5, &got), 1);
    check_alive(got, 5);
    CHECK_EQ(gort_chan_recv(fired6, &one), 1);
    CHECK_EQ(gort_chan_recv(sel10, &got), 1);
    check_alive(got, 10);
    atomic_store(&thread_go, 1);
    CHECK_EQ(pthread_join(th, NULL), 0);
    int eleven = 11;
    CHECK_EQ(gort_chan_send(wake11, &eleven), 0);
    CHECK_EQ(pthread_join(th11, NULL), 0);
    gort_waitgroup_wait(&wg);
    for (int i = 0; i < 1000 && !finalized8; i++) {
        churn(1);
        gort_gosched();
    }
    CHECK(finalized8);
    gort_timer_free(t6);
    gort_chan_release(buf4);

    /* Now drop every root: each object dies, and its cleanup says so. */
    got = NULL;
    CHECK_EQ(gort_root_remove(&global3), 0);
    for (int i = 0; i < 2000; i++) {
        int all = 1;
        for (int k = 1; k <= KINDS; k++) all &= dead[k] > 0;
        if (all) break;
        churn(1);
        gort_gosched();
    }
    for (int k = 1; k <= KINDS; k++) {
        if (dead[k] == 0) fprintf(stderr, "object of root kind %d never died\n", k);
    }
    /* Conservative scanning may keep one stale word somewhere; the registered global must
     * die for sure (its root is gone and nothing else ever pointed to it). */
    CHECK(dead[3] == 1);
    gort_chan_release(wake1);
    gort_chan_release(unbuf5);
    gort_chan_release(fired6);
    gort_chan_release(sel10);
    gort_chan_release(wake11);
    return 0;
}

int main(void) { return gort_main(body, NULL); }
