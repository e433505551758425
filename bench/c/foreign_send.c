/* foreign_send: a thread gort does not own (a plain pthread) sends a value to a goroutine
 * on an unbuffered channel and waits for its reply on another, N round trips. Twin: a C
 * thread calling an exported Go function that does the same with Go channels
 * (bench/gocgo/foreign_send.go, a cgo callback per round trip). Timed inside the thread,
 * after one warm-up round trip (registration here, Go's needm there). Reports ns per
 * round trip. */
#include "bench.h"

#include <pthread.h>

static long long n;
static gort_chan *ping, *pong;
static int64_t elapsed;

static void echo(void *arg) {
    (void)arg;
    long long v;
    while (gort_chan_recv(ping, &v) == 1) gort_chan_send(pong, &v);
}

static void *foreign_thread(void *arg) {
    (void)arg;
    long long v = 0;
    gort_chan_send(ping, &v); /* warm-up */
    gort_chan_recv(pong, &v);
    int64_t t0 = bench_now();
    for (long long i = 0; i < n; i++) {
        gort_chan_send(ping, &i);
        gort_chan_recv(pong, &v);
    }
    elapsed = bench_now() - t0;
    return NULL;
}

int main(int argc, char **argv) {
    n = bench_n(argc, argv, 1000000);
    ping = gort_chan_make(sizeof(long long), 0);
    pong = gort_chan_make(sizeof(long long), 0);
    BENCH_CHECK(gort_go(echo, NULL));
    pthread_t t;
    if (pthread_create(&t, NULL, foreign_thread, NULL) != 0) return 1;
    pthread_join(t, NULL);
    gort_chan_close(ping);
    bench_report("foreign_send", elapsed, n);
    return 0;
}
