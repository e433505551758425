// A pool of plain pthreads (as std::thread workers would be) feeds goroutines and waits
// on them: each worker sends jobs, collects replies, and waits on a wait group that the
// goroutines it started finish; the workers also start goroutines themselves.
// VALGRIND: yes
// ASAN: yes
// TSAN: yes
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

#include <pthread.h>
#include <stdatomic.h>

enum { WORKERS = 4, JOBS = 500, HELPERS = 8 };

typedef struct job {
    long value;
    gort_chan *reply; /* of long */
} job;

static gort_chan *jobs; /* of job */
static atomic_long helper_sum;

static void doubler(void *arg) {
    (void)arg;
    for (job j; gort_chan_recv(jobs, &j) == 1;) {
        long twice = 2 * j.value;
        gort_chan_send(j.reply, &twice);
    }
}

typedef struct helper_arg {
    long value;
    gort_waitgroup *wg;
} helper_arg;

static void helper(void *arg) {
    helper_arg *h = arg;
    gort_gosched();
    atomic_fetch_add(&helper_sum, h->value);
    gort_waitgroup_done(h->wg);
}

static void *worker(void *arg) {
    long id = (long)arg;
    CHECK_EQ(gort_goid(), 0);
    gort_chan *reply = gort_chan_make(sizeof(long), 0);
    CHECK(reply != NULL);
    long sum = 0;
    for (long i = 1; i <= JOBS; i++) {
        job j = {i, reply};
        CHECK_EQ(gort_chan_send(jobs, &j), 0);
        long r;
        CHECK_EQ(gort_chan_recv(reply, &r), 1);
        sum += r;
    }
    CHECK_EQ(sum, (long)JOBS * (JOBS + 1));
    gort_chan_release(reply);

    /* Goroutines started from this thread; the thread blocks until they are done. */
    gort_waitgroup wg = GORT_WAITGROUP_INIT;
    helper_arg args[HELPERS];
    gort_waitgroup_add(&wg, HELPERS);
    for (int i = 0; i < HELPERS; i++) {
        args[i] = (helper_arg){id, &wg};
        CHECK_EQ(gort_go(helper, &args[i]), 0);
    }
    gort_waitgroup_wait(&wg); /* args and wg live on this stack: wait before returning */
    return NULL;
}

int main(void) {
    jobs = gort_chan_make(sizeof(job), 4);
    CHECK(jobs != NULL);
    for (int i = 0; i < 3; i++) CHECK_EQ(gort_go(doubler, NULL), 0);
    pthread_t t[WORKERS];
    for (long i = 0; i < WORKERS; i++) CHECK_EQ(pthread_create(&t[i], NULL, worker, (void *)(i + 1)), 0);
    for (int i = 0; i < WORKERS; i++) CHECK_EQ(pthread_join(t[i], NULL), 0);
    CHECK_EQ(atomic_load(&helper_sum), (long)HELPERS * (1 + 2 + 3 + 4));
    gort_chan_close(jobs); /* the doublers end; they hold no reference of their own */
    return 0;
}
