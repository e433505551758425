// gort_protect / gort_panic / gort_defer: Go's panic, defer and recover for C.
// VALGRIND: yes
// ASAN: yes
// TSAN: yes
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

#include <stdatomic.h>

#include <pthread.h>
#include <string.h>

static char order[64];
static int norder;
static void record(void *arg) { order[norder++] = *(const char *)arg; }
static void reset(void) { norder = 0; memset(order, 0, sizeof order); }

static void returns(void *arg) { *(int *)arg = 7; }

static volatile int do_panic = 1;
static void deep3(int n) {
    if (n == 0) {
        if (do_panic) gort_panic("deep down");
        return;
    }
    deep3(n - 1);
}
static void panics_deep(void *arg) {
    (void)arg;
    deep3(20);
}

/* Defers run LIFO when the protect ends normally... */
static void defers_then_returns(void *arg) {
    (void)arg;
    gort_defer(record, "a");
    gort_defer(record, "b");
    gort_defer(record, "c");
}
/* ...and when it panics, before gort_protect returns. */
static void defers_then_panics(void *arg) {
    (void)arg;
    gort_defer(record, "x");
    gort_defer(record, "y");
    gort_panic("after defers");
}

/* A nested protect catches its own panic; the outer one completes normally. */
static void inner_panics(void *arg) {
    (void)arg;
    gort_defer(record, "i");
    gort_panic("inner");
}
static void outer(void *arg) {
    int *inner_result = arg;
    gort_defer(record, "o");
    const char *msg = NULL;
    *inner_result = gort_protect(inner_panics, NULL, &msg);
    CHECK(msg != NULL && strcmp(msg, "inner") == 0);
    record("n");
}

/* A deferred call that panics while a panic is in flight: the newer panic is reported,
   and the remaining defers still run. */
static void panicking_defer(void *arg) {
    (void)arg;
    gort_panic("second");
}
static void panic_in_defer(void *arg) {
    (void)arg;
    gort_defer(record, "1");
    gort_defer(panicking_defer, NULL);
    gort_defer(record, "2");
    gort_panic("first");
}

/* A deferred call that panics after a normal return is caught by the same protect. */
static void defer_panics_after_return(void *arg) {
    (void)arg;
    gort_defer(panicking_defer, NULL);
}

static void check_all(void) {
    const char *msg = NULL;
    int v = 0;
    CHECK_EQ(gort_protect(returns, &v, &msg), 0);
    CHECK_EQ(v, 7);
    CHECK(msg == NULL);

    CHECK_EQ(gort_protect(panics_deep, NULL, &msg), 1);
    CHECK(strcmp(msg, "deep down") == 0);
    CHECK_EQ(gort_protect(panics_deep, NULL, NULL), 1); /* the message is optional */

    reset();
    CHECK_EQ(gort_protect(defers_then_returns, NULL, &msg), 0);
    CHECK(strcmp(order, "cba") == 0);

    reset();
    CHECK_EQ(gort_protect(defers_then_panics, NULL, &msg), 1);
    CHECK(strcmp(order, "yx") == 0);
    CHECK(strcmp(msg, "after defers") == 0);

    reset();
    int inner = -1;
    CHECK_EQ(gort_protect(outer, &inner, &msg), 0);
    CHECK_EQ(inner, 1);
    CHECK(strcmp(order, "ino") == 0);

    reset();
    CHECK_EQ(gort_protect(panic_in_defer, NULL, &msg), 1);
    CHECK(strcmp(msg, "second") == 0);
    CHECK(strcmp(order, "21") == 0);

    CHECK_EQ(gort_protect(defer_panics_after_return, NULL, &msg), 1);
    CHECK(strcmp(msg, "second") == 0);

    CHECK_EQ(gort_protect(NULL, NULL, &msg), GORT_EINVAL);

    /* Many round trips: nothing leaks or drifts. */
    for (int i = 0; i < 10000; i++) CHECK_EQ(gort_protect(panics_deep, NULL, &msg), 1);
}

static void *on_pthread(void *arg) {
    (void)arg;
    check_all();
    return NULL;
}

static atomic_int goroutine_done;
static void in_goroutine(void *arg) {
    (void)arg;
    check_all();
    atomic_store(&goroutine_done, 1);
}

static int main_goroutine(void *arg) {
    (void)arg;
    check_all();
    gort_go(in_goroutine, NULL);
    while (!atomic_load(&goroutine_done)) gort_sleep(1000000);
    return 0;
}

int main(void) {
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, on_pthread, NULL), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    return gort_main(main_goroutine, NULL);
}
