// Sync under contention across all Ps, goroutines mixed with threads the runtime does not
// own, each phase with an exact check:
//   1. Mutex: many goroutines and threads increment a plain counter; some hold the lock
//      across a sleep so waiters pass 1 ms and starvation mode comes and goes.
//   2. RWMutex: readers check an invariant two writers maintain (a == b).
//   3. Cond: a bounded buffer with producers and consumers (signal and broadcast).
//   4. WaitGroup: a fork/join tree where every node waits on its own WaitGroup.
//   5. Sema: units are never over-issued (a counter of holders stays <= capacity) with
//      random sizes and random deadlines.
// ENV: GORT_MAXPROCS=4
// ASAN: yes
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

/* Runs fn(i) on `goroutines` goroutines and `threads` pthreads, waits for all. */
typedef void (*work_fn)(int id);
static work_fn cur_fn;
static gort_waitgroup run_wg;
static void run_g(void *arg) {
    cur_fn((int)(intptr_t)arg);
    gort_waitgroup_done(&run_wg);
}
static void *run_t(void *arg) {
    cur_fn((int)(intptr_t)arg);
    gort_waitgroup_done(&run_wg);
    return NULL;
}
static void run_all(work_fn fn, int goroutines, int threads) {
    cur_fn = fn;
    gort_waitgroup_add(&run_wg, goroutines + threads);
    pthread_t t[16];
    for (int i = 0; i < threads; i++) CHECK_EQ(pthread_create(&t[i], NULL, run_t, (void *)(intptr_t)(1000 + i)), 0);
    for (int i = 0; i < goroutines; i++) CHECK_EQ(gort_go(run_g, (void *)(intptr_t)i), 0);
    gort_waitgroup_wait(&run_wg);
    for (int i = 0; i < threads; i++) CHECK_EQ(pthread_join(t[i], NULL), 0);
}

/* --- 1. mutex ---------------------------------------------------------------------------- */
enum { MU_ITERS = 5000 };
static gort_mutex mu;
static long long mu_counter;
static atomic_int mu_inside;
static atomic_llong mu_expected; /* one per increment made, counted outside the lock */
static void mutex_work(int id) {
    uint64_t s = (uint64_t)id * 7919 + 1;
    for (int i = 0; i < MU_ITERS; i++) {
        gort_mutex_lock(&mu);
        CHECK_EQ(atomic_fetch_add(&mu_inside, 1), 0);
        mu_counter++;
        if (xorshift(&s) % 1000 == 0) gort_sleep(1500 * US); /* makes waiters starve */
        atomic_fetch_sub(&mu_inside, 1);
        gort_mutex_unlock(&mu);
        atomic_fetch_add(&mu_expected, 1);
        if (xorshift(&s) % 4 == 0) {
            if (gort_mutex_trylock(&mu)) {
                CHECK_EQ(atomic_fetch_add(&mu_inside, 1), 0);
                mu_counter++;
                atomic_fetch_sub(&mu_inside, 1);
                gort_mutex_unlock(&mu);
            } else {
                gort_mutex_lock(&mu);
                mu_counter++;
                gort_mutex_unlock(&mu);
            }
            atomic_fetch_add(&mu_expected, 1);
        }
    }
}

/* --- 2. rwmutex -------------------------------------------------------------------------- */
static gort_rwmutex rw;
static long long rw_a, rw_b; /* writers keep a == b */
static atomic_llong rw_reads;
static void rw_work(int id) {
    uint64_t s = (uint64_t)id * 104729 + 3;
    for (int i = 0; i < 4000; i++) {
        if (id % 4 == 0 && i % 4 == 0) {
            gort_rwmutex_lock(&rw);
            rw_a++;
            if (xorshift(&s) % 8 == 0) gort_gosched();
            rw_b++;
            gort_rwmutex_unlock(&rw);
        } else {
            gort_rwmutex_rlock(&rw);
            long long a = rw_a;
            if (xorshift(&s) % 16 == 0) gort_gosched();
            CHECK_EQ(rw_b, a);
            gort_rwmutex_runlock(&rw);
            atomic_fetch_add(&rw_reads, 1);
        }
    }
}

/* --- 3. cond: bounded buffer ------------------------------------------------------------ */
enum { BUF = 8, PER_PRODUCER = 3000, PRODUCERS = 6, CONSUMERS = 6 };
static gort_mutex bmu;
static gort_cond not_full, not_empty;
static long long buf[BUF];
static int head, count, producers_left = PRODUCERS;
static atomic_llong produced_sum, consumed_sum, consumed_n;
static void producer(int id) {
    for (long long i = 0; i < PER_PRODUCER; i++) {
        long long v = (long long)id * 1000000 + i;
        gort_mutex_lock(&bmu);
        while (count == BUF) gort_cond_wait(&not_full, &bmu);
        buf[(head + count++) % BUF] = v;
        gort_cond_signal(&not_empty);
        gort_mutex_unlock(&bmu);
        atomic_fetch_add(&produced_sum, v);
    }
    gort_mutex_lock(&bmu);
    if (--producers_left == 0) gort_cond_broadcast(&not_empty); /* consumers may stop */
    gort_mutex_unlock(&bmu);
}
static void consumer(int id) {
    (void)id;
    for (;;) {
        gort_mutex_lock(&bmu);
        while (count == 0 && producers_left > 0) gort_cond_wait(&not_empty, &bmu);
        if (count == 0) {
            gort_mutex_unlock(&bmu);
            return;
        }
        long long v = buf[head];
        head = (head + 1) % BUF;
        count--;
        gort_cond_signal(&not_full);
        gort_mutex_unlock(&bmu);
        atomic_fetch_add(&consumed_sum, v);
        atomic_fetch_add(&consumed_n, 1);
    }
}
static void cond_work(int id) {
    if (id % 2 == 0) producer(id / 2);
    else consumer(id);
}

/* --- 4. waitgroup fork/join tree --------------------------------------------------------- */
typedef struct node { long long lo, hi, *out; gort_waitgroup *parent; } node;
static void tree(void *arg) {
    node *n = arg;
    if (n->hi - n->lo <= 1) {
        *n->out = n->lo;
    } else {
        long long mid = n->lo + (n->hi - n->lo) / 2, left = 0, right = 0;
        gort_waitgroup wg = GORT_WAITGROUP_INIT;
        node a = {n->lo, mid, &left, &wg}, b = {mid, n->hi, &right, &wg};
        gort_waitgroup_add(&wg, 2);
        gort_go(tree, &a);
        gort_go(tree, &b);
        gort_waitgroup_wait(&wg);
        *n->out = left + right;
    }
    if (n->parent) gort_waitgroup_done(n->parent);
}

/* --- 5. sema ------------------------------------------------------------------------------- */
enum { SEM_CAP = 5 };
static gort_sema sem;
static atomic_int holders, timeouts;
static void sema_work(int id) {
    uint64_t s = (uint64_t)id * 31337 + 5;
    for (int i = 0; i < 1500; i++) {
        int n = 1 + (int)(xorshift(&s) % SEM_CAP);
        int64_t deadline;
        switch (xorshift(&s) % 3) {
        case 0: deadline = 0; break;
        case 1: deadline = gort_deadline_in((int64_t)(xorshift(&s) % 200) * US); break;
        default: deadline = GORT_FOREVER; break;
        }
        int r = gort_sema_acquire(&sem, n, deadline);
        if (r != 0) {
            CHECK(r == GORT_EAGAIN || r == GORT_ETIMEDOUT);
            atomic_fetch_add(&timeouts, 1);
            continue;
        }
        int h = atomic_fetch_add(&holders, n) + n;
        CHECK(h <= SEM_CAP);
        if (xorshift(&s) % 8 == 0) gort_gosched();
        atomic_fetch_sub(&holders, n);
        gort_sema_release(&sem, n);
    }
}

static int main_goroutine(void *arg) {
    (void)arg;
    run_all(mutex_work, 16, 3);
    CHECK_EQ(atomic_load(&mu_inside), 0);
    CHECK_EQ(mu_counter, atomic_load(&mu_expected));

    run_all(rw_work, 16, 3);
    CHECK_EQ(rw_a, rw_b);

    run_all(cond_work, PRODUCERS + CONSUMERS, 0);
    CHECK_EQ(atomic_load(&consumed_n), (long long)PRODUCERS * PER_PRODUCER);
    CHECK_EQ(atomic_load(&consumed_sum), atomic_load(&produced_sum));

    for (int round = 0; round < 5; round++) {
        long long sum = -1;
        node root = {0, 20000, &sum, NULL};
        tree(&root);
        CHECK_EQ(sum, 20000LL * 19999 / 2);
    }

    gort_sema_init(&sem, SEM_CAP);
    run_all(sema_work, 16, 3);
    CHECK_EQ(gort_sema_acquire(&sem, SEM_CAP, 0), 0); /* every unit came back */
    CHECK_EQ(gort_sema_acquire(&sem, 1, 0), GORT_EAGAIN);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
