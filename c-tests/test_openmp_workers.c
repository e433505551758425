// An OpenMP thread pool talks to goroutines: every iteration of a parallel loop sends a
// request to a pool of goroutines and waits for the reply on a channel of its own, from
// threads gort does not own (registered by their first gort call). Then a collection
// stops the idle OpenMP threads too, and a second parallel region works the same.
// OPENMP: yes
// ASAN: yes
// TIMEOUT: 60
#include "check.h"
#include "gort.h"

#include <omp.h>
#include <stdatomic.h>

enum { OMP_THREADS = 4, ITERATIONS = 2000, SQUARERS = 3 };

typedef struct request {
    long value;
    gort_chan *reply; /* of long */
} request;

static gort_chan *requests; /* of request */
static gort_waitgroup squarers_done = GORT_WAITGROUP_INIT;

static void squarer(void *arg) {
    (void)arg;
    for (request r; gort_chan_recv(requests, &r) == 1;) {
        long sq = r.value * r.value;
        gort_chan_send(r.reply, &sq);
    }
    gort_waitgroup_done(&squarers_done);
}

/* A parallel loop whose iterations each make one round trip to the goroutines. */
static long parallel_sum_of_squares(void) {
    long sum = 0;
    atomic_int foreign = 0, team = 0;
#pragma omp parallel num_threads(OMP_THREADS) reduction(+ : sum)
    {
        gort_chan *reply = gort_chan_make(sizeof(long), 0); /* one per OpenMP thread */
        CHECK(reply != NULL);
        if (gort_goid() == 0) atomic_fetch_add(&foreign, 1); /* not goroutines */
        atomic_store(&team, omp_get_num_threads());
#pragma omp for schedule(dynamic, 16)
        for (long i = 1; i <= ITERATIONS; i++) {
            request r = {i, reply};
            CHECK_EQ(gort_chan_send(requests, &r), 0); /* blocks this OpenMP thread */
            long sq;
            CHECK_EQ(gort_chan_recv(reply, &sq), 1);
            CHECK_EQ(sq, i * i);
            sum += sq;
        }
        gort_chan_release(reply);
    }
    CHECK_EQ(atomic_load(&foreign), atomic_load(&team));
    return sum;
}

int main(void) {
    requests = gort_chan_make(sizeof(request), 0);
    CHECK(requests != NULL);
    gort_waitgroup_add(&squarers_done, SQUARERS);
    for (int i = 0; i < SQUARERS; i++) CHECK_EQ(gort_go(squarer, NULL), 0);

    long want = (long)ITERATIONS * (ITERATIONS + 1) * (2L * ITERATIONS + 1) / 6;
    CHECK_EQ(parallel_sum_of_squares(), want);
    gort_gc(); /* the OpenMP threads are registered and idle in libgomp: stopped too */
    CHECK_EQ(parallel_sum_of_squares(), want);

    gort_chan_close(requests);
    gort_waitgroup_wait(&squarers_done);
    gort_chan_release(requests);
    return 0;
}
