/*
 * echo_client: the load generator of bench/net/run's echo benchmark, written on gort and
 * used unchanged against both echo servers (examples-c/echo.c and its Go twin).
 *
 *   echo_client ADDR CONNS SECONDS [MSG_BYTES]
 *
 * CONNS goroutines each dial ADDR, then for SECONDS do round trips: write MSG_BYTES
 * (default 64), read until all of them came back, check them, count one. Prints
 *   RESULT conns=<CONNS> round_trips=<total> seconds=<measured> rt_per_s=<rate>
 */
#include <gort.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SECOND 1000000000LL

static const char *addr;
static int64_t stop_at;
static size_t msg_bytes = 64;
static gort_waitgroup wg;
static gort_mutex total_mu;
static long long total;
static int failed;

static void client(void *arg) {
    intptr_t id = (intptr_t)arg;
    char out[65536], in[65536];
    for (size_t i = 0; i < msg_bytes; i++) out[i] = (char)('a' + (i + (size_t)id) % 26);
    int fd = gort_tcp_dial(addr, gort_deadline_in(10 * SECOND));
    long long done = 0;
    if (fd < 0) {
        fprintf(stderr, "echo_client: dial %s: %s\n", addr, gort_strerror(fd));
        failed = 1;
        goto out;
    }
    while (gort_now() < stop_at) {
        if (gort_write(fd, out, msg_bytes, gort_deadline_in(10 * SECOND)) < 0) { failed = 1; break; }
        size_t got = 0;
        while (got < msg_bytes) {
            ssize_t n = gort_read(fd, in + got, msg_bytes - got, gort_deadline_in(10 * SECOND));
            if (n <= 0) { failed = 1; goto close; }
            got += (size_t)n;
        }
        if (memcmp(in, out, msg_bytes) != 0) { failed = 1; break; }
        done++;
    }
close:
    gort_close(fd);
out:
    gort_mutex_lock(&total_mu);
    total += done;
    gort_mutex_unlock(&total_mu);
    gort_waitgroup_done(&wg);
}

static int run(void *arg) {
    char **argv = arg;
    addr = argv[1];
    int conns = atoi(argv[2]);
    double secs = atof(argv[3]);
    if (argv[4]) msg_bytes = (size_t)atol(argv[4]);
    if (conns <= 0 || secs <= 0 || msg_bytes == 0 || msg_bytes > 65536) {
        fprintf(stderr, "usage: echo_client ADDR CONNS SECONDS [MSG_BYTES<=65536]\n");
        return 2;
    }
    int64_t t0 = gort_now();
    stop_at = t0 + (int64_t)(secs * SECOND);
    gort_waitgroup_add(&wg, conns);
    for (intptr_t i = 0; i < conns; i++) gort_go(client, (void *)i);
    gort_waitgroup_wait(&wg);
    double took = (double)(gort_now() - t0) / SECOND;
    printf("RESULT conns=%d round_trips=%lld seconds=%.3f rt_per_s=%.1f\n", conns, total, took, total / took);
    return failed ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: echo_client ADDR CONNS SECONDS [MSG_BYTES]\n");
        return 2;
    }
    (void)argc;
    return gort_main(run, argv);
}
