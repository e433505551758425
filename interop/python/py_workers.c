/* A small C library for the Python examples and tests: goroutine bodies that Python
 * starts with gort.go, and a goroutine that calls a Python callback. */
#include <gort.h>

typedef struct square_job {
    gort_chan *in, *out, *done; /* of long */
} square_job;

/* Squares every long received on `in` onto `out` until `in` is closed, then sends 1 on
 * `done`: its last use of the job (the Python side keeps the job and the channels
 * alive until every worker has said so). */
void square_worker(void *arg) {
    square_job *job = arg;
    for (long v; gort_chan_recv(job->in, &v) == 1;) {
        v *= v;
        gort_chan_send(job->out, &v);
    }
    long one = 1;
    gort_chan_send(job->done, &one);
}

typedef struct callback_job {
    long (*fn)(long);  /* a Python callback (made with gort.callback) */
    long n;
    gort_chan *done;   /* of long: the sum of fn(1) .. fn(n) */
} callback_job;

/* Calls job->fn(1..n) from a goroutine, yielding between calls (so, unlocked, it would
 * move between threads), and sends the sum on `done`: its last use of the job. */
void call_back_n_times(void *arg) {
    callback_job *job = arg;
    long sum = 0;
    for (long i = 1; i <= job->n; i++) {
        sum += job->fn(i);
        gort_gosched();
    }
    gort_chan_send(job->done, &sum);
}
