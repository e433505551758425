/* pingpong: two goroutines bounce a value over two unbuffered channels, N round trips
 * (each is two hand-offs: the sender finds the partner parked on the channel and wakes
 * it). Reports ns per round trip. Go twin: bench/go/pingpong.go. */
#include "bench.h"

static long long n;
static gort_chan *ping, *pong;

static void ponger(void *arg) {
    (void)arg;
    long long v;
    while (gort_chan_recv(ping, &v) == 1) gort_chan_send(pong, &v);
}

static int bench_main(void *arg) {
    (void)arg;
    ping = gort_chan_make(sizeof(long long), 0);
    pong = gort_chan_make(sizeof(long long), 0);
    BENCH_CHECK(gort_go(ponger, NULL));
    int64_t t0 = bench_now();
    for (long long i = 0; i < n; i++) {
        gort_chan_send(ping, &i);
        long long v;
        gort_chan_recv(pong, &v);
    }
    int64_t elapsed = bench_now() - t0;
    gort_chan_close(ping);
    bench_report("pingpong", elapsed, n);
    return 0;
}

int main(int argc, char **argv) {
    n = bench_n(argc, argv, 1000000);
    return gort_main(bench_main, NULL);
}
