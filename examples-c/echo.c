/*
 * echo: a TCP echo server, one goroutine per connection.
 *
 *   ./echo [addr]          default addr ":7007" (all interfaces, port 7007)
 *
 * Each connection's goroutine reads whatever arrives and writes it back. gort_read parks
 * the goroutine (not the thread) until data arrives, so thousands of idle connections
 * cost a parked goroutine each, not a thread. A connection idle for 60 s is dropped:
 * every read carries a deadline.
 */
#include <gort.h>
#include <stdint.h>
#include <stdio.h>

#define SECOND 1000000000LL

static void serve(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[16384];
    for (;;) {
        ssize_t n = gort_read(fd, buf, sizeof buf, gort_deadline_in(60 * SECOND));
        if (n <= 0) break;                                  /* EOF, timeout, reset */
        if (gort_write(fd, buf, (size_t)n, gort_deadline_in(60 * SECOND)) < 0) break;
    }
    gort_close(fd);
}

static int main_goroutine(void *arg) {
    const char *addr = arg;
    int ln = gort_tcp_listen(addr, 0);
    if (ln < 0) {
        fprintf(stderr, "echo: listen %s: %s\n", addr, gort_strerror(ln));
        return 1;
    }
    printf("echo: listening on port %d\n", gort_local_port(ln));
    fflush(stdout);
    for (;;) {
        int fd = gort_accept(ln, GORT_FOREVER);
        if (fd < 0) {
            fprintf(stderr, "echo: accept: %s\n", gort_strerror(fd));
            gort_sleep(SECOND / 100);                       /* e.g. out of fds: back off */
            continue;
        }
        gort_go(serve, (void *)(intptr_t)fd);
    }
}

int main(int argc, char **argv) {
    return gort_main(main_goroutine, argc > 1 ? argv[1] : ":7007");
}
