/* bench/rusage.c: run a command and report its peak RSS and wall time.
 *
 *   rusage OUTFILE CMD [ARGS...]
 *
 * Forks, execs CMD (stdin/stdout/stderr inherited), waits for it with wait4(2) and writes
 * one line to OUTFILE:  "maxrss_kb=<ru_maxrss> status=<exit status or 128+signal>
 * wall_ns=<fork-to-reap ns> user_us=.. sys_us=.. minflt=.. majflt=.. nvcsw=.. nivcsw=..".
 * other_cpu_us=..".  other_cpu_us is the CPU time the whole machine spent outside this
 * child while it ran (/proc/stat busy time, steal included, minus the child's user+sys): a
 * measure of interference from other processes, so the harness can flag disturbed runs.
 * Exits with the child's status. ru_maxrss of the reaped child is the peak resident set
 * of that process (KiB on Linux) as the kernel counted it: runtime, stacks, heap, all.
 * (/usr/bin/time is not used: on this machine it is not GNU time.)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Busy CPU time of the whole machine so far, in microseconds (-1 if unknown). */
static long long machine_busy_us(void) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long v[10] = {0};
    int got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
                     &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
    fclose(f);
    if (got < 8) return -1;
    /* user nice system idle iowait irq softirq steal [guest guest_nice: inside user/nice] */
    unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
    long hz = sysconf(_SC_CLK_TCK);
    return hz > 0 ? (long long)(busy * 1000000ULL / (unsigned long long)hz) : -1;
}

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s OUTFILE CMD [ARGS...]\n", argv[0]);
        return 125;
    }
    long long busy0 = machine_busy_us();
    long long t0 = now_ns();
    pid_t pid = fork();
    if (pid < 0) { perror("fork"); return 125; }
    if (pid == 0) {
        execvp(argv[2], &argv[2]);
        fprintf(stderr, "rusage: exec %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    int st = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    while (wait4(pid, &st, 0, &ru) < 0) {
        if (errno != EINTR) { perror("wait4"); return 125; }
    }
    long long wall = now_ns() - t0;
    long long busy1 = machine_busy_us();
    long long child_us = (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec +
                         (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec;
    long long other = (busy0 < 0 || busy1 < 0) ? -1 : busy1 - busy0 - child_us;
    if (busy0 >= 0 && busy1 >= 0 && other < 0) other = 0; /* tick granularity */
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 125;
    FILE *f = fopen(argv[1], "w");
    if (!f) { perror(argv[1]); return 125; }
    fprintf(f, "maxrss_kb=%ld status=%d wall_ns=%lld user_us=%lld sys_us=%lld minflt=%ld majflt=%ld nvcsw=%ld nivcsw=%ld other_cpu_us=%lld\n",
            ru.ru_maxrss, code, wall,
            (long long)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
            (long long)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec,
            ru.ru_minflt, ru.ru_majflt, ru.ru_nvcsw, ru.ru_nivcsw, other);
    fclose(f);
    return code;
}
