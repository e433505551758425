// Built only as tsan-ordered: plain (non-atomic) data handed between goroutines and
// threads through each of gort's orderings, none of which ThreadSanitizer may report:
// spawn, an AfterFunc timer (arming before firing), a timer channel, unbuffered and
// buffered channels, close, select, Once, Cond, RWMutex (writer before readers, readers
// before the next writer), the counting semaphore, a plain thread's send, and gort_main's
// return.
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

#include <pthread.h>

static long spawned, timed, ticked, closed_data, selected, onced, conded, rw_data, semad,
    from_thread, main_result;
static gort_waitgroup wg;

static void read_spawned(void *arg) {
    (void)arg;
    CHECK_EQ(spawned, 1);
    gort_waitgroup_done(&wg);
}

static void read_timed(void *arg) {
    CHECK_EQ(timed, 2);
    gort_chan_send(arg, &timed);
}

static void write_once(void *arg) {
    (void)arg;
    onced = 5;
}

static gort_mutex cmu = GORT_MUTEX_INIT;
static gort_cond cv = GORT_COND_INIT;
static int cready;
static void signaller(void *arg) {
    (void)arg;
    conded = 6;
    gort_mutex_lock(&cmu);
    cready = 1;
    gort_cond_signal(&cv);
    gort_mutex_unlock(&cmu);
}

static gort_rwmutex rw = GORT_RWMUTEX_INIT;
static void reader(void *arg) {
    (void)arg;
    gort_rwmutex_rlock(&rw);
    CHECK_EQ(rw_data, 7);
    gort_rwmutex_runlock(&rw);
    gort_waitgroup_done(&wg);
}

static gort_sema sem;
static void sema_poster(void *arg) {
    (void)arg;
    semad = 8;
    gort_sema_release(&sem, 1);
}

static void *thread_sender(void *arg) {
    from_thread = 9;
    long one = 1;
    gort_chan_send(arg, &one);
    return NULL;
}

static void closer(void *arg) {
    closed_data = 3;
    gort_chan_close(arg);
}

static void selector_sender(void *arg) {
    selected = 4;
    long v = 1;
    gort_case c = {.chan = arg, .dir = GORT_SEND, .elem = &v};
    CHECK_EQ(gort_select(&c, 1, GORT_FOREVER), 0);
}

static int body(void *arg) {
    (void)arg;
    spawned = 1;
    gort_waitgroup_add(&wg, 1);
    CHECK_EQ(gort_go(read_spawned, NULL), 0);
    gort_waitgroup_wait(&wg);

    gort_chan *done = gort_chan_make(sizeof(long), 1);
    timed = 2;
    gort_timer *t = gort_after_func(1000000, read_timed, done);
    long v;
    CHECK_EQ(gort_chan_recv(done, &v), 1);
    gort_timer_free(t);

    gort_chan *after = gort_after(1000000);
    int64_t at;
    CHECK_EQ(gort_chan_recv(after, &at), 1);
    ticked = 1;
    gort_chan_release(after);

    gort_chan *unbuf = gort_chan_make(sizeof(long), 0);
    CHECK_EQ(gort_go(closer, unbuf), 0);
    CHECK_EQ(gort_chan_recv(unbuf, &v), 0);
    CHECK_EQ(closed_data, 3);
    gort_chan_release(unbuf);

    gort_chan *sel = gort_chan_make(sizeof(long), 0);
    CHECK_EQ(gort_go(selector_sender, sel), 0);
    gort_case rc = {.chan = sel, .dir = GORT_RECV, .elem = &v};
    CHECK_EQ(gort_select(&rc, 1, GORT_FOREVER), 0);
    CHECK_EQ(selected, 4);
    gort_chan_release(sel);

    gort_once once = GORT_ONCE_INIT;
    gort_once_do(&once, write_once, NULL);
    gort_once_do(&once, write_once, NULL);
    CHECK_EQ(onced, 5);

    CHECK_EQ(gort_go(signaller, NULL), 0);
    gort_mutex_lock(&cmu);
    while (!cready) gort_cond_wait(&cv, &cmu);
    gort_mutex_unlock(&cmu);
    CHECK_EQ(conded, 6);

    gort_rwmutex_lock(&rw);
    rw_data = 7;
    gort_rwmutex_unlock(&rw);
    gort_waitgroup_add(&wg, 4);
    for (int i = 0; i < 4; i++) CHECK_EQ(gort_go(reader, NULL), 0);
    gort_waitgroup_wait(&wg);
    gort_rwmutex_lock(&rw);
    rw_data = 8;
    gort_rwmutex_unlock(&rw);

    gort_sema_init(&sem, 0);
    CHECK_EQ(gort_go(sema_poster, NULL), 0);
    CHECK_EQ(gort_sema_acquire(&sem, 1, GORT_FOREVER), 0);
    CHECK_EQ(semad, 8);

    gort_chan *fromt = gort_chan_make(sizeof(long), 0);
    pthread_t th;
    CHECK_EQ(pthread_create(&th, NULL, thread_sender, fromt), 0);
    CHECK_EQ(gort_chan_recv(fromt, &v), 1);
    CHECK_EQ(from_thread, 9);
    CHECK_EQ(pthread_join(th, NULL), 0);
    gort_chan_release(fromt);

    gort_chan_release(done);
    main_result = 10;
    return 0;
}

int main(void) {
    CHECK_EQ(gort_main(body, NULL), 0);
    CHECK_EQ(main_result, 10);  /* the main goroutine's writes before gort_main returns */
    return ticked == 1 ? 0 : 1;
}
