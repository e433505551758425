// Sync through the header: zero-initialised values are ready; Mutex (trylock, mutual
// exclusion across goroutines and threads), RWMutex (readers share, a writer excludes,
// a pending writer blocks new readers), Cond (signal wakes one, broadcast all, no lost
// signal), WaitGroup (fan-out, reuse, several waiters, waiters on threads), Once (runs
// once, everyone waits for it, a panic or a goexit counts as done), counting Sema (n units, FIFO,
// deadlines), and the misuse panics a program can recover from.
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

/* --- zero values and sizes -------------------------------------------------------------- */
static gort_mutex static_mu; /* static storage: zero, ready */
static void check_zero_values(void) {
    gort_mutex m = GORT_MUTEX_INIT;
    gort_rwmutex rw = GORT_RWMUTEX_INIT;
    gort_waitgroup wg = GORT_WAITGROUP_INIT;
    gort_sema s = GORT_SEMA_INIT(2);
    gort_mutex_lock(&m);
    CHECK_EQ(gort_mutex_trylock(&m), 0);
    gort_mutex_unlock(&m);
    CHECK_EQ(gort_mutex_trylock(&m), 1);
    gort_mutex_unlock(&m);
    gort_mutex_lock(&static_mu);
    gort_mutex_unlock(&static_mu);
    gort_rwmutex_rlock(&rw);
    gort_rwmutex_rlock(&rw);
    gort_rwmutex_runlock(&rw);
    gort_rwmutex_runlock(&rw);
    gort_rwmutex_lock(&rw);
    gort_rwmutex_unlock(&rw);
    gort_waitgroup_wait(&wg); /* counter 0: returns at once */
    CHECK_EQ(gort_sema_acquire(&s, 2, 0), 0);
    CHECK_EQ(gort_sema_acquire(&s, 1, 0), GORT_EAGAIN);
    gort_sema_release(&s, 2);
    /* After use, the values are back to all-zero (except the sema's count). */
    gort_mutex zero_m;
    memset(&zero_m, 0, sizeof zero_m);
    CHECK(memcmp(&m, &zero_m, sizeof m) == 0);
}

/* --- mutex: mutual exclusion across goroutines and plain threads ----------------------- */
enum { MU_GOROUTINES = 8, MU_THREADS = 2, MU_ITERS = 20000 };
static gort_mutex mu;
static long long mu_counter; /* protected by mu; deliberately non-atomic */
static atomic_int mu_inside, mu_done;
static void mu_work(void) {
    for (int i = 0; i < MU_ITERS; i++) {
        gort_mutex_lock(&mu);
        CHECK_EQ(atomic_fetch_add(&mu_inside, 1), 0);
        mu_counter++;
        if (i % 512 == 0) gort_gosched(); /* hold it across a yield now and then */
        atomic_fetch_sub(&mu_inside, 1);
        gort_mutex_unlock(&mu);
    }
    atomic_fetch_add(&mu_done, 1);
}
static void mu_goroutine(void *arg) { (void)arg; mu_work(); }
static void *mu_thread(void *arg) { (void)arg; mu_work(); return NULL; }
static void check_mutex(void) {
    pthread_t t[MU_THREADS];
    for (int i = 0; i < MU_GOROUTINES; i++) gort_go(mu_goroutine, NULL);
    for (int i = 0; i < MU_THREADS; i++) CHECK_EQ(pthread_create(&t[i], NULL, mu_thread, NULL), 0);
    for (int i = 0; i < MU_THREADS; i++) CHECK_EQ(pthread_join(t[i], NULL), 0);
    while (atomic_load(&mu_done) < MU_GOROUTINES + MU_THREADS) gort_sleep(MS);
    CHECK_EQ(mu_counter, (long long)(MU_GOROUTINES + MU_THREADS) * MU_ITERS);
}

/* A mutex locked by one goroutine may be unlocked by another (as in Go). */
static void unlocker(void *arg) { gort_mutex_unlock(arg); }
static void check_unlock_elsewhere(void) {
    gort_mutex m = GORT_MUTEX_INIT;
    gort_mutex_lock(&m);
    gort_go(unlocker, &m);
    gort_mutex_lock(&m); /* parks until the other goroutine unlocks */
    gort_mutex_unlock(&m);
}

/* --- rwmutex --------------------------------------------------------------------------- */
static gort_rwmutex rw;
static atomic_int readers_in, writers_in, rw_done;
static long long rw_value;
static void rw_reader(void *arg) {
    (void)arg;
    for (int i = 0; i < 5000; i++) {
        gort_rwmutex_rlock(&rw);
        atomic_fetch_add(&readers_in, 1);
        CHECK_EQ(atomic_load(&writers_in), 0);
        long long v = rw_value;
        if (i % 64 == 0) gort_gosched();
        CHECK_EQ(rw_value, v); /* no writer while we read */
        atomic_fetch_sub(&readers_in, 1);
        gort_rwmutex_runlock(&rw);
    }
    atomic_fetch_add(&rw_done, 1);
}
static void rw_writer(void *arg) {
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        gort_rwmutex_lock(&rw);
        CHECK_EQ(atomic_fetch_add(&writers_in, 1), 0);
        CHECK_EQ(atomic_load(&readers_in), 0);
        rw_value++;
        atomic_fetch_sub(&writers_in, 1);
        gort_rwmutex_unlock(&rw);
    }
    atomic_fetch_add(&rw_done, 1);
}
static void check_rwmutex_exclusion(void) {
    for (int i = 0; i < 6; i++) gort_go(rw_reader, NULL);
    for (int i = 0; i < 2; i++) gort_go(rw_writer, NULL);
    while (atomic_load(&rw_done) < 8) gort_sleep(MS);
    CHECK_EQ(rw_value, 2000);
}

/* A pending writer blocks new readers. A relay of readers passes the read lock on: each
 * takes it while the previous one still holds it, so the count of readers inside never
 * drops to zero by itself. If new readers could overtake a waiting writer, the writer would
 * wait until the relay ends; with Go's rule the next reader queues behind the writer, the
 * current one gives up waiting for it and leaves, and the writer gets in. The relay runs
 * until the writer is in, for at most RELAY_MAX_HOPS hops after the writer started: far
 * more than any scheduling delay of the writer can account for (on a loaded machine the
 * writer's thread can be off its CPU for a while; a fixed relay once ended first). */
enum { RELAY_MAX_HOPS = 100000 };
static gort_rwmutex prw;
static atomic_int hops, writer_in_at_hop, writer_start_hop, next_in, relay_live;
static void relay_reader(void *arg) {
    (void)arg;
    gort_rwmutex_rlock(&prw);
    atomic_store(&next_in, 1);
    int h = atomic_fetch_add(&hops, 1) + 1;
    int start = atomic_load(&writer_start_hop);
    if (atomic_load(&writer_in_at_hop) < 0 && (start < 0 || h - start < RELAY_MAX_HOPS)) {
        atomic_store(&next_in, 0);
        atomic_fetch_add(&relay_live, 1);
        CHECK_EQ(gort_go(relay_reader, NULL), 0);
        /* Hold on until the next reader is in, or give up after a while (it is queued
         * behind the writer): liveness only, nothing is asserted about time. */
        for (int i = 0; i < 20 && !atomic_load(&next_in); i++) gort_sleep(MS / 10);
    }
    gort_rwmutex_runlock(&prw);
    atomic_fetch_sub(&relay_live, 1);
}
static void relay_writer(void *arg) {
    (void)arg;
    atomic_store(&writer_start_hop, atomic_load(&hops));
    gort_rwmutex_lock(&prw);
    atomic_store(&writer_in_at_hop, atomic_load(&hops));
    gort_rwmutex_unlock(&prw);
}
static void check_pending_writer_blocks_readers(void) {
    atomic_store(&writer_in_at_hop, -1);
    atomic_store(&writer_start_hop, -1);
    atomic_store(&relay_live, 1);
    CHECK_EQ(gort_go(relay_reader, NULL), 0);
    while (atomic_load(&hops) < 3) gort_sleep(MS / 10);
    CHECK_EQ(gort_go(relay_writer, NULL), 0);
    while (atomic_load(&writer_in_at_hop) < 0 && atomic_load(&relay_live) > 0) gort_sleep(MS);
    while (atomic_load(&relay_live) > 0) gort_sleep(MS); /* let the relay finish */
    /* The writer got in while the relay still ran (it ends at RELAY_MAX_HOPS otherwise). */
    CHECK(atomic_load(&writer_in_at_hop) >= 0);
    CHECK(atomic_load(&writer_in_at_hop) - atomic_load(&writer_start_hop) < RELAY_MAX_HOPS);
}

/* --- cond ---------------------------------------------------------------------------------- */
static gort_mutex cmu;
static gort_cond cv;
static int queue_items; /* protected by cmu */
static atomic_int consumed, consumers_done;
enum { ITEMS = 20000, CONSUMERS = 4 };
static void consumer(void *arg) {
    (void)arg;
    for (;;) {
        gort_mutex_lock(&cmu);
        while (queue_items == 0 && atomic_load(&consumed) < ITEMS) gort_cond_wait(&cv, &cmu);
        if (queue_items == 0) { /* all consumed */
            gort_mutex_unlock(&cmu);
            break;
        }
        queue_items--;
        atomic_fetch_add(&consumed, 1);
        if (atomic_load(&consumed) == ITEMS) gort_cond_broadcast(&cv);
        gort_mutex_unlock(&cmu);
    }
    atomic_fetch_add(&consumers_done, 1);
}
static void check_cond_producer_consumer(void) {
    for (int i = 0; i < CONSUMERS; i++) gort_go(consumer, NULL);
    for (int i = 0; i < ITEMS; i++) {
        gort_mutex_lock(&cmu);
        queue_items++;
        gort_cond_signal(&cv);
        gort_mutex_unlock(&cmu);
        if (i % 100 == 0) gort_gosched();
    }
    while (atomic_load(&consumers_done) < CONSUMERS) gort_sleep(MS);
    CHECK_EQ(atomic_load(&consumed), ITEMS);
    CHECK_EQ(queue_items, 0);
}

/* Broadcast wakes every waiter; signal with nobody waiting is lost (as in Go). */
static gort_mutex bmu;
static gort_cond bcv;
static int go_flag;
static atomic_int bwaiting, bwoken;
static void bwaiter(void *arg) {
    (void)arg;
    gort_mutex_lock(&bmu);
    atomic_fetch_add(&bwaiting, 1);
    while (!go_flag) gort_cond_wait(&bcv, &bmu);
    gort_mutex_unlock(&bmu);
    atomic_fetch_add(&bwoken, 1);
}
static void *bwaiter_thread(void *arg) { bwaiter(arg); return NULL; }
static void check_cond_broadcast(void) {
    gort_cond_signal(&bcv);
    gort_cond_broadcast(&bcv);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, bwaiter_thread, NULL), 0);
    for (int i = 0; i < 10; i++) gort_go(bwaiter, NULL);
    while (atomic_load(&bwaiting) < 11) gort_sleep(MS);
    gort_mutex_lock(&bmu);
    go_flag = 1;
    gort_cond_broadcast(&bcv);
    gort_mutex_unlock(&bmu);
    CHECK_EQ(pthread_join(t, NULL), 0);
    while (atomic_load(&bwoken) < 11) gort_sleep(MS);
}

/* --- waitgroup ------------------------------------------------------------------------------ */
static atomic_int wg_work;
static void wg_worker(void *arg) {
    atomic_fetch_add(&wg_work, 1);
    gort_waitgroup_done(arg);
}
static gort_waitgroup shared_wg;
static atomic_int extra_waiters_done;
static void extra_waiter(void *arg) {
    (void)arg;
    gort_waitgroup_wait(&shared_wg);
    atomic_fetch_add(&extra_waiters_done, 1);
}
static void *thread_waiter(void *arg) {
    (void)arg;
    gort_waitgroup_wait(&shared_wg);
    atomic_fetch_add(&extra_waiters_done, 1);
    return NULL;
}
static void check_waitgroup(void) {
    gort_waitgroup wg = GORT_WAITGROUP_INIT;
    for (int round = 0; round < 50; round++) { /* reuse after each wait */
        atomic_store(&wg_work, 0);
        gort_waitgroup_add(&wg, 100);
        for (int i = 0; i < 100; i++) gort_go(wg_worker, &wg);
        gort_waitgroup_wait(&wg);
        CHECK_EQ(atomic_load(&wg_work), 100);
    }
    /* Several waiters, some on plain threads, released together. */
    gort_waitgroup_add(&shared_wg, 1);
    for (int i = 0; i < 5; i++) gort_go(extra_waiter, NULL);
    pthread_t t[2];
    for (int i = 0; i < 2; i++) CHECK_EQ(pthread_create(&t[i], NULL, thread_waiter, NULL), 0);
    gort_sleep(2 * MS);
    CHECK_EQ(atomic_load(&extra_waiters_done), 0);
    gort_waitgroup_done(&shared_wg);
    for (int i = 0; i < 2; i++) CHECK_EQ(pthread_join(t[i], NULL), 0);
    while (atomic_load(&extra_waiters_done) < 7) gort_sleep(MS);
}

/* --- once ---------------------------------------------------------------------------------- */
static gort_once once;
static atomic_int once_runs, once_finished, once_callers_done;
static void once_fn(void *arg) {
    (void)arg;
    atomic_fetch_add(&once_runs, 1);
    gort_sleep(2 * MS); /* others arrive meanwhile and must wait for us */
    atomic_store(&once_finished, 1);
}
static void once_caller(void *arg) {
    (void)arg;
    gort_once_do(&once, once_fn, NULL);
    CHECK_EQ(atomic_load(&once_finished), 1);
    atomic_fetch_add(&once_callers_done, 1);
}
static void panicking_fn(void *arg) { (void)arg; gort_panic("boom in once"); }
static void never_called(void *arg) { (void)arg; CHECK(0 && "once ran twice"); }
static void once_panics(void *arg) { gort_once_do(arg, panicking_fn, NULL); }
static atomic_int exiter_inside;
static void exiting_fn(void *arg) {
    (void)arg;
    atomic_store(&exiter_inside, 1);
    gort_goexit();
}
static void once_goexits(void *arg) {
    gort_once_do(arg, exiting_fn, NULL);
    CHECK(0 && "gort_goexit returned");
}
static void check_once(void) {
    for (int i = 0; i < 20; i++) gort_go(once_caller, NULL);
    while (atomic_load(&once_callers_done) < 20) gort_sleep(MS);
    CHECK_EQ(atomic_load(&once_runs), 1);
    /* A panicking function counts as done; the panic reaches the caller. */
    gort_once o = GORT_ONCE_INIT;
    const char *msg = NULL;
    CHECK_EQ(gort_protect(once_panics, &o, &msg), 1);
    CHECK(msg && strcmp(msg, "boom in once") == 0);
    gort_once_do(&o, never_called, NULL);
    /* A function that ends its goroutine with gort_goexit counts as done too, and does
     * not leave the others waiting (this call would block forever otherwise). */
    static gort_once exit_once = GORT_ONCE_INIT;
    gort_go(once_goexits, &exit_once);
    while (!atomic_load(&exiter_inside)) gort_sleep(MS);
    gort_once_do(&exit_once, never_called, NULL);
}

/* --- sema ------------------------------------------------------------------------------------ */
static gort_sema sem;
static atomic_int big_got, small_got;
static void big_acquirer(void *arg) {
    (void)arg;
    CHECK_EQ(gort_sema_acquire(&sem, 5, GORT_FOREVER), 0);
    atomic_store(&big_got, 1);
}
static void small_acquirer(void *arg) {
    (void)arg;
    CHECK_EQ(gort_sema_acquire(&sem, 1, GORT_FOREVER), 0);
    CHECK_EQ(atomic_load(&big_got), 1); /* FIFO: not before the big request ahead of it */
    atomic_store(&small_got, 1);
}
static atomic_int thread_timed_out;
static void *sema_thread(void *arg) {
    (void)arg;
    CHECK_EQ(gort_sema_acquire(&sem, 1, gort_deadline_in(20 * MS)), GORT_ETIMEDOUT);
    atomic_store(&thread_timed_out, 1);
    CHECK_EQ(gort_sema_acquire(&sem, 2, gort_deadline_in(60000 * MS)), 0);
    return NULL;
}
static void check_sema(void) {
    gort_sema_init(&sem, 3);
    CHECK_EQ(gort_sema_acquire(&sem, 0, 0), GORT_EINVAL);
    CHECK_EQ(gort_sema_acquire(&sem, -1, 0), GORT_EINVAL);
    CHECK_EQ(gort_sema_acquire(NULL, 1, 0), GORT_EINVAL);
    CHECK_EQ(gort_sema_acquire(&sem, 3, 0), 0);
    CHECK_EQ(gort_sema_acquire(&sem, 1, 0), GORT_EAGAIN);
    CHECK_EQ(gort_sema_acquire(&sem, 1, gort_deadline_in(20 * MS)), GORT_ETIMEDOUT);
    gort_go(big_acquirer, NULL);
    gort_sleep(2 * MS);
    gort_go(small_acquirer, NULL);
    gort_sleep(2 * MS);
    gort_sema_release(&sem, 1); /* 1 available: the big one still waits, so does the small */
    gort_sleep(2 * MS);
    CHECK_EQ(atomic_load(&big_got), 0);
    CHECK_EQ(atomic_load(&small_got), 0);
    gort_sema_release(&sem, 4); /* 5: the big one goes */
    while (!atomic_load(&big_got)) gort_sleep(MS);
    gort_sema_release(&sem, 1); /* then the small one */
    while (!atomic_load(&small_got)) gort_sleep(MS);
    /* A thread times out, then gets its units. */
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, sema_thread, NULL), 0);
    while (!atomic_load(&thread_timed_out)) gort_sleep(MS);
    gort_sleep(5 * MS); /* most likely waiting again; either way it must get both units */
    gort_sema_release(&sem, 2);
    CHECK_EQ(pthread_join(t, NULL), 0);
    CHECK_EQ(gort_sema_acquire(&sem, 1, 0), GORT_EAGAIN);
}

/* --- recoverable misuse: Go panics ---------------------------------------------------------- */
static void negative_wg(void *arg) { (void)arg; gort_waitgroup wg = GORT_WAITGROUP_INIT; gort_waitgroup_done(&wg); }
static void nil_mutex(void *arg) { (void)arg; gort_mutex_lock(NULL); }
static void bad_release(void *arg) { (void)arg; gort_sema s = GORT_SEMA_INIT(0); gort_sema_release(&s, 0); }
static void nil_once_fn(void *arg) { (void)arg; gort_once o = GORT_ONCE_INIT; gort_once_do(&o, NULL, NULL); }
static void check_panics(void) {
    const char *msg = NULL;
    CHECK_EQ(gort_protect(negative_wg, NULL, &msg), 1);
    CHECK(msg && strcmp(msg, "sync: negative WaitGroup counter") == 0);
    CHECK_EQ(gort_protect(nil_mutex, NULL, &msg), 1);
    CHECK(msg && strstr(msg, "nil"));
    CHECK_EQ(gort_protect(bad_release, NULL, &msg), 1);
    CHECK(msg && strstr(msg, "gort_sema_release"));
    CHECK_EQ(gort_protect(nil_once_fn, NULL, &msg), 1);
    CHECK(msg && strstr(msg, "nil function"));
}

static int main_goroutine(void *arg) {
    (void)arg;
    check_zero_values();
    check_mutex();
    check_unlock_elsewhere();
    check_rwmutex_exclusion();
    check_pending_writer_blocks_readers();
    check_cond_producer_consumer();
    check_cond_broadcast();
    check_waitgroup();
    check_once();
    check_sema();
    check_panics();
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
