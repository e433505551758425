// Counter overflows in sync and channels are caught, not wrapped:
// - gort_sema_release past INT64_MAX is a gort panic (before the fix the count wrapped
//   negative), and the count is unchanged afterwards;
// - gort_sema_acquire of more units than can ever exist waits for its deadline
//   (GORT_EAGAIN / GORT_ETIMEDOUT) and leaves the count alone; a waiter queued behind it
//   is served once it leaves;
// - gort_waitgroup_add past INT32_MAX is Go's "sync: negative WaitGroup counter" panic,
//   and the counter is unchanged (the add is undone);
// - gort_chan_make with elem_size * cap overflowing is NULL with errno EINVAL.
// ASAN: yes
// TIMEOUT: 120
#include "check.h"
#include "gort.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

static gort_sema sem;
static gort_waitgroup wg;

static void release_max(void *arg) {
    (void)arg;
    gort_sema_release(&sem, INT64_MAX);
}
static void release_one(void *arg) {
    (void)arg;
    gort_sema_release(&sem, 1);
}
static void wg_add_max(void *arg) {
    (void)arg;
    gort_waitgroup_add(&wg, INT32_MAX);
}
static void wg_add_one(void *arg) {
    (void)arg;
    gort_waitgroup_add(&wg, 1);
}

static void expect_panic(void (*fn)(void *), const char *want) {
    const char *msg = NULL;
    CHECK_EQ(gort_protect(fn, NULL, &msg), 1);
    CHECK(msg != NULL);
    if (strcmp(msg, want) != 0) {
        fprintf(stderr, "panic message: %s (want %s)\n", msg, want);
        CHECK(0);
    }
}

struct big_waiter {
    gort_sema *s;
    int result;
    gort_waitgroup done;
};

/* Waits for more units than can ever exist, until its deadline. */
static void take_all(void *arg) {
    struct big_waiter *w = arg;
    w->result = gort_sema_acquire(w->s, INT64_MAX, gort_deadline_in(100 * 1000000LL));
    gort_waitgroup_done(&w->done);
}

static int main_goroutine(void *arg) {
    (void)arg;
    /* sema: INT64_MAX once is fine, once more overflows; then the count is still MAX. */
    gort_sema_init(&sem, 0);
    gort_sema_release(&sem, INT64_MAX);
    expect_panic(release_max, "gort_sema_release: semaphore count overflow");
    expect_panic(release_one, "gort_sema_release: semaphore count overflow");
    CHECK_EQ(gort_sema_acquire(&sem, INT64_MAX, 0), 0); /* all of it was there */
    CHECK_EQ(gort_sema_acquire(&sem, 1, 0), GORT_EAGAIN); /* and nothing more */
    gort_sema_release(&sem, INT64_MAX - 1);
    expect_panic(release_max, "gort_sema_release: semaphore count overflow");
    gort_sema_release(&sem, 1); /* exactly INT64_MAX: fine */
    CHECK_EQ(gort_sema_acquire(&sem, INT64_MAX, 0), 0);

    /* An acquire bigger than the count: EAGAIN at once, ETIMEDOUT after waiting; the count
       is untouched, and a small waiter queued behind the big one is served after it left. */
    static gort_sema s2 = GORT_SEMA_INIT(5);
    CHECK_EQ(gort_sema_acquire(&s2, INT64_MAX, 0), GORT_EAGAIN);
    struct big_waiter big = {.s = &s2, .done = GORT_WAITGROUP_INIT};
    gort_waitgroup_add(&big.done, 1);
    CHECK_EQ(gort_go(take_all, &big), 0);
    gort_sleep(1000000); /* usually queues behind it; either order must work */
    CHECK_EQ(gort_sema_acquire(&s2, 1, GORT_FOREVER), 0);
    gort_waitgroup_wait(&big.done);
    CHECK_EQ(big.result, GORT_ETIMEDOUT);
    CHECK_EQ(gort_sema_acquire(&s2, 4, 0), 0); /* 5 - 1: nothing was lost or added */
    CHECK_EQ(gort_sema_acquire(&s2, 1, 0), GORT_EAGAIN);

    /* WaitGroup: INT32_MAX fits, one more wraps: Go's panic, and the add is undone. */
    gort_waitgroup_add(&wg, INT32_MAX);
    expect_panic(wg_add_one, "sync: negative WaitGroup counter");
    expect_panic(wg_add_max, "sync: negative WaitGroup counter");
    gort_waitgroup_add(&wg, -INT32_MAX); /* back to zero: no panic, Wait returns */
    gort_waitgroup_wait(&wg);
    gort_waitgroup_add(&wg, 1);
    gort_waitgroup_done(&wg);
    gort_waitgroup_wait(&wg);

    /* Channels: elem_size * cap overflow is EINVAL; a huge cap of empty elements is fine. */
    errno = 0;
    CHECK(gort_chan_make(SIZE_MAX / 2 + 1, 2) == NULL);
    CHECK_EQ(errno, EINVAL);
    errno = 0;
    CHECK(gort_chan_make(16, SIZE_MAX / 8) == NULL);
    CHECK_EQ(errno, EINVAL);
    gort_chan *c = gort_chan_make(0, SIZE_MAX / 2);
    CHECK(c != NULL);
    CHECK_EQ(gort_chan_send(c, NULL), 0);
    CHECK_EQ(gort_chan_len(c), 1);
    CHECK_EQ(gort_chan_recv(c, NULL), 1);
    gort_chan_release(c);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
