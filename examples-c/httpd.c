/*
 * httpd: a small HTTP/1.1 server that answers every request with "hello".
 *
 *   ./httpd [addr]         default addr ":8080"
 *   curl http://127.0.0.1:8080/      ->  hello
 *
 * One goroutine per connection, keep-alive and pipelining: the goroutine reads into a
 * buffer, answers every complete request it holds (headers end at an empty line; a body
 * announced by Content-Length is skipped), and writes the answers back in one call.
 * "Connection: close" and HTTP/1.0 without keep-alive end the connection after the
 * answer. Reads carry a deadline, so idle keep-alive connections are dropped after 60 s.
 */
#include <gort.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SECOND 1000000000LL

/* Every answer: these headers, a Date header (as Go's net/http sends), the body. */
static const char HEAD[] =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Length: 5\r\n";
static const char TAIL[] = "\r\nhello";

/* "Date: ...\r\n" for now, rebuilt only when the second changes. */
typedef struct { time_t sec; size_t len; char text[64]; } date_cache;
static void date_refresh(date_cache *d) {
    time_t now = time(NULL);
    if (now == d->sec) return;
    struct tm tm;
    gmtime_r(&now, &tm);
    d->len = strftime(d->text, sizeof d->text, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    d->sec = now;
}

/* The value of header `name` in the header block [p, end), or NULL. */
static const char *header(const char *p, const char *end, const char *name) {
    size_t len = strlen(name);
    for (p = memchr(p, '\n', (size_t)(end - p)); p && p + 1 < end; p = memchr(p, '\n', (size_t)(end - p))) {
        p++;
        if ((size_t)(end - p) > len && strncasecmp(p, name, len) == 0 && p[len] == ':') {
            for (p += len + 1; p < end && *p == ' '; p++) {}
            return p;
        }
    }
    return NULL;
}

static void serve(void *arg) {
    int fd = (int)(intptr_t)arg;
    char in[8192], out[8192];
    size_t have = 0, skip = 0;                       /* bytes buffered; body bytes to drop */
    date_cache date = {0};
    for (int keep_alive = 1; keep_alive;) {
        ssize_t n = gort_read(fd, in + have, sizeof in - have, gort_deadline_in(60 * SECOND));
        if (n <= 0) break;                            /* EOF, timeout, reset, closed */
        have += (size_t)n;
        size_t used = 0, outlen = 0;
        date_refresh(&date);
        size_t answer = sizeof HEAD - 1 + date.len + sizeof TAIL - 1;
        for (;;) {
            if (skip) {                               /* the body of the last request */
                size_t k = have - used < skip ? have - used : skip;
                used += k, skip -= k;
                if (skip) break;
            }
            char *start = in + used;
            char *end = memmem(start, have - used, "\r\n\r\n", 4);
            if (!end) break;                          /* incomplete: read more */
            end += 4;
            const char *v = header(start, end, "Content-Length");
            if (v) skip = strtoul(v, NULL, 10);
            v = header(start, end, "Connection");
            int http10 = memmem(start, (size_t)(end - start), "HTTP/1.0\r\n", 10) != NULL;
            if ((v && strncasecmp(v, "close", 5) == 0) || (http10 && !(v && strncasecmp(v, "keep-alive", 10) == 0)))
                keep_alive = 0;
            if (outlen + answer > sizeof out) {        /* flush a long pipeline */
                if (gort_write(fd, out, outlen, gort_deadline_in(60 * SECOND)) < 0) goto done;
                outlen = 0;
            }
            memcpy(out + outlen, HEAD, sizeof HEAD - 1);
            memcpy(out + outlen + sizeof HEAD - 1, date.text, date.len);
            memcpy(out + outlen + sizeof HEAD - 1 + date.len, TAIL, sizeof TAIL - 1);
            outlen += answer;
            used = (size_t)(end - in);
            if (!keep_alive) break;
        }
        if (outlen && gort_write(fd, out, outlen, gort_deadline_in(60 * SECOND)) < 0) break;
        memmove(in, in + used, have - used);
        have -= used;
        if (have == sizeof in) break;                 /* headers too large: give up */
    }
done:
    gort_close(fd);
}

static int main_goroutine(void *arg) {
    const char *addr = arg;
    int ln = gort_tcp_listen(addr, 0);
    if (ln < 0) {
        fprintf(stderr, "httpd: listen %s: %s\n", addr, gort_strerror(ln));
        return 1;
    }
    printf("httpd: listening on port %d\n", gort_local_port(ln));
    fflush(stdout);
    for (;;) {
        int fd = gort_accept(ln, GORT_FOREVER);
        if (fd < 0) {
            fprintf(stderr, "httpd: accept: %s\n", gort_strerror(fd));
            gort_sleep(SECOND / 100);                 /* e.g. out of fds: back off */
            continue;
        }
        gort_go(serve, (void *)(intptr_t)fd);
    }
}

int main(int argc, char **argv) {
    return gort_main(main_goroutine, argc > 1 ? argv[1] : ":8080");
}
