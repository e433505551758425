/* sieve: Go's concurrent prime sieve: a generator goroutine sends 2, 3, 4, ... on an
 * unbuffered channel; each prime found starts a filter goroutine that passes on the
 * numbers it does not divide. Finds the first N primes. Reports ns per prime. Go twin:
 * bench/go/sieve.go. */
#include "bench.h"

static void generate(void *arg) {
    gort_chan *out = arg;
    for (long long i = 2;; i++)
        if (gort_chan_send_until(out, &i, GORT_FOREVER) != 0) return;
}

typedef struct filter_args { gort_chan *in, *out; long long prime; } filter_args;

static void filter(void *arg) {
    filter_args a = *(filter_args *)arg;
    free(arg);
    for (long long v;;) {
        gort_chan_recv(a.in, &v);
        if (v % a.prime != 0) gort_chan_send(a.out, &v);
    }
}

static long long n;

static int bench_main(void *arg) {
    (void)arg;
    int64_t t0 = bench_now();
    gort_chan *ch = gort_chan_make(sizeof(long long), 0);
    BENCH_CHECK(gort_go(generate, ch));
    long long prime = 0;
    for (long long i = 0; i < n; i++) {
        gort_chan_recv(ch, &prime);
        filter_args *a = malloc(sizeof *a);
        *a = (filter_args){ch, gort_chan_make(sizeof(long long), 0), prime};
        ch = a->out;
        BENCH_CHECK(gort_go(filter, a));
    }
    int64_t elapsed = bench_now() - t0;
    if (n == 10000 && prime != 104729) { fprintf(stderr, "wrong prime %lld\n", prime); return 1; }
    bench_report("sieve", elapsed, n);
    /* The chain stays blocked; the process exits when gort_main returns. */
    return 0;
}

int main(int argc, char **argv) {
    n = bench_n(argc, argv, 10000);
    return gort_main(bench_main, NULL);
}
