/* cpuprof_off / cpuprof_on: two goroutines on two Ps each run N/2 steps of a linear
 * congruential generator (one multiply and one add per step, a chain the CPU cannot
 * overlap), without and with the CPU profiler at 100 Hz writing to /dev/null. The
 * difference between the two is the profiler's cost (twin: bench/go/cpuprof.go, with
 * pprof.StartCPUProfile). Reports ns per step. BENCH_CPUPROF_HZ sets gort's rate (the Go
 * twin stays at 100 Hz). */
#include "bench.h"
#include <fcntl.h>
#include <unistd.h>

static long long n;
static gort_waitgroup wg = GORT_WAITGROUP_INIT;
static volatile unsigned long sink;

static void spin(void *arg) {
    unsigned long x = (unsigned long)(uintptr_t)arg;
    for (long long i = 0; i < n / 2; i++) x = x * 6364136223846793005UL + 1442695040888963407UL;
    sink += x;
    gort_waitgroup_done(&wg);
}

static int bench_main(void *arg) {
    (void)arg;
    int fd = -1;
    int64_t t0 = bench_now();
    if (CPUPROF_ON) {
        fd = open("/dev/null", O_WRONLY);
        const char *hz = getenv("BENCH_CPUPROF_HZ"); /* default 100, Go's */
        BENCH_CHECK(gort_cpu_profile_start(fd, hz ? atoi(hz) : 100));
    }
    gort_waitgroup_add(&wg, 2);
    BENCH_CHECK(gort_go(spin, (void *)1));
    BENCH_CHECK(gort_go(spin, (void *)2));
    gort_waitgroup_wait(&wg);
    if (CPUPROF_ON) {
        BENCH_CHECK(gort_cpu_profile_stop());
        close(fd);
    }
    int64_t elapsed = bench_now() - t0;
    bench_report(CPUPROF_NAME, elapsed, n);
    return 0;
}

int main(int argc, char **argv) {
    n = bench_n(argc, argv, 2000000000);
    return gort_main(bench_main, NULL);
}
