/*
 * showcase: Go-style concurrency from C with gort.
 *
 *  1. A worker pool. The main goroutine cuts [1, LIMIT) into chunks and feeds them to a
 *     jobs channel; one worker goroutine per CPU counts the primes in each chunk and sends
 *     the count on a results channel; a WaitGroup closes the results channel once every
 *     worker has finished. The collector waits with select and a deadline that moves on
 *     every 250 ms, so while the work runs it prints progress instead of blocking silently.
 *  2. A pipeline: Go's concurrent prime sieve, one goroutine per prime found, each
 *     filtering the numbers that flow through an unbuffered channel to the next.
 *  3. A deadline: a request that takes longer than the caller will wait, raced against it
 *     with select — first too slow, then in time.
 *  4. Scale: 10,000 goroutines each sleep 100 ms; they park on timers rather than holding
 *     a thread each, so together they take about 100 ms.
 *  5. The network: an HTTP/1.1 keep-alive server (one goroutine per connection, as in
 *     examples-c/httpd.c) under load from 100 client goroutines for two seconds. Every
 *     read and write parks its goroutine on the netpoller instead of blocking a thread;
 *     a ticker prints the request rate every half second while the load runs.
 *  6. The garbage-collected heap: goroutines build binary trees with gort_new and drop
 *     them, with no free anywhere; the trees live while a goroutine's stack points to
 *     them, and the collector reclaims the rest. A registered global keeps one tree for
 *     the whole run. gort_read_memstats reports what the collector did.
 *
 * Everything runs under gort_main, which runs the main goroutine and returns its value.
 */
#include <gort.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS 1000000LL /* nanoseconds */

/* --- 1. worker pool ------------------------------------------------------------------- */
enum { LIMIT = 20000000, CHUNK = 100000 };

typedef struct job { int64_t lo, hi; } job;
typedef struct pool {
    gort_chan *jobs;    /* job,     buffered; closed by the feeder when all are queued   */
    gort_chan *results; /* int64_t, buffered; closed once every worker is done           */
    gort_waitgroup workers;
} pool;

static int is_prime(int64_t n) {
    if (n < 2) return 0;
    if (n % 2 == 0) return n == 2;
    for (int64_t d = 3; d * d <= n; d += 2)
        if (n % d == 0) return 0;
    return 1;
}

static void worker(void *arg) {
    pool *p = arg;
    job j;
    while (gort_chan_recv(p->jobs, &j) == 1) { /* 0: closed and drained */
        int64_t count = 0;
        for (int64_t n = j.lo; n < j.hi; n++) count += is_prime(n);
        gort_chan_send(p->results, &count);
    }
    gort_waitgroup_done(&p->workers);
}

static void feeder(void *arg) {
    pool *p = arg;
    for (int64_t lo = 1; lo < LIMIT; lo += CHUNK) {
        job j = {lo, lo + CHUNK < LIMIT ? lo + CHUNK : LIMIT};
        gort_chan_send(p->jobs, &j);
    }
    gort_chan_close(p->jobs);
}

static void closer(void *arg) {
    pool *p = arg;
    gort_waitgroup_wait(&p->workers);
    gort_chan_close(p->results);
}

static int worker_pool(void) {
    int nworkers = gort_num_cpu();
    pool p = {gort_chan_make(sizeof(job), 16), gort_chan_make(sizeof(int64_t), 16),
              GORT_WAITGROUP_INIT};
    printf("1. worker pool: counting primes below %d with %d workers\n", LIMIT, nworkers);
    int64_t start = gort_now();
    gort_waitgroup_add(&p.workers, nworkers);
    for (int i = 0; i < nworkers; i++) gort_go(worker, &p);
    gort_go(feeder, &p);
    gort_go(closer, &p);

    int64_t total = 0, chunks = 0, count = 0;
    const int64_t nchunks = (LIMIT - 1 + CHUNK - 1) / CHUNK;
    int64_t next_report = gort_deadline_in(250 * MS); /* deadlines are absolute times */
    for (;;) {
        gort_case c = {.chan = p.results, .dir = GORT_RECV, .elem = &count};
        int r = gort_select(&c, 1, next_report);
        if (r < 0) { /* GORT_ETIMEDOUT, or GORT_EAGAIN if the deadline had already passed */
            printf("   ... %3lld%% of the chunks done\n", (long long)(100 * chunks / nchunks));
            next_report += 250 * MS;
            continue;
        }
        if (!c.ok) break; /* closed: every worker has finished */
        total += count;
        chunks++;
    }
    printf("   %lld primes in %lld chunks, %.0f ms%s\n\n", (long long)total, (long long)chunks,
           (double)(gort_now() - start) / MS,
           total == 1270607 ? " (correct)" : " (WRONG: expected 1270607)");
    gort_chan_release(p.jobs);
    gort_chan_release(p.results);
    return total == 1270607 ? 0 : 1;
}

/* --- 2. pipeline: the prime sieve -------------------------------------------------------- */
static void generate(void *arg) {
    gort_chan *out = arg;
    for (int64_t i = 2;; i++) gort_chan_send(out, &i);
}

typedef struct filter_args { gort_chan *in, *out; int64_t prime; } filter_args;

static void filter(void *arg) {
    filter_args a = *(filter_args *)arg;
    free(arg);
    for (int64_t n;;) {
        gort_chan_recv(a.in, &n);
        if (n % a.prime != 0) gort_chan_send(a.out, &n);
    }
}

static void sieve(int nprimes) {
    printf("2. pipeline: the first %d primes from a chain of filter goroutines\n  ", nprimes);
    gort_chan *ch = gort_chan_make(sizeof(int64_t), 0);
    gort_go(generate, ch);
    for (int i = 0; i < nprimes; i++) {
        int64_t prime;
        gort_chan_recv(ch, &prime);
        printf(" %lld", (long long)prime);
        filter_args *a = malloc(sizeof *a);
        *a = (filter_args){ch, gort_chan_make(sizeof(int64_t), 0), prime};
        ch = a->out;
        gort_go(filter, a);
    }
    /* The generator and filters stay blocked on their channels: like goroutines in Go
     * they are simply abandoned when gort_main returns. */
    printf("\n\n");
}

/* --- 3. a deadline ------------------------------------------------------------------------ */
typedef struct request { gort_chan *reply; int64_t takes_ns; } request;

static void slow_service(void *arg) {
    request *rq = arg;
    gort_sleep(rq->takes_ns);
    int64_t answer = 42;
    gort_chan_send(rq->reply, &answer); /* buffered: never blocks, even if nobody waits */
    gort_chan_release(rq->reply);
    free(rq);
}

static void call_with_deadline(int64_t takes_ms, int64_t wait_ms) {
    gort_chan *reply = gort_chan_make(sizeof(int64_t), 1);
    request *rq = malloc(sizeof *rq);
    *rq = (request){reply, takes_ms * MS};
    gort_chan_retain(reply); /* one reference for the service, one for us */
    gort_go(slow_service, rq);
    int64_t answer = 0;
    gort_case c = {.chan = reply, .dir = GORT_RECV, .elem = &answer};
    int r = gort_select(&c, 1, gort_deadline_in(wait_ms * MS));
    if (r == GORT_ETIMEDOUT)
        printf("   service takes %3lld ms, we wait %3lld ms: timed out\n", (long long)takes_ms,
               (long long)wait_ms);
    else
        printf("   service takes %3lld ms, we wait %3lld ms: answer %lld\n", (long long)takes_ms,
               (long long)wait_ms, (long long)answer);
    gort_chan_release(reply);
}

/* --- 4. scale ------------------------------------------------------------------------------ */
enum { SLEEPERS = 10000 };

static void sleeper(void *arg) {
    gort_sleep(100 * MS);
    gort_waitgroup_done(arg);
}

static void many_sleepers(void) {
    gort_waitgroup wg = GORT_WAITGROUP_INIT;
    int64_t start = gort_now();
    gort_waitgroup_add(&wg, SLEEPERS);
    for (int i = 0; i < SLEEPERS; i++) gort_go(sleeper, &wg);
    gort_waitgroup_wait(&wg);
    printf("4. scale: %d goroutines slept 100 ms each, all done in %.0f ms\n", SLEEPERS,
           (double)(gort_now() - start) / MS);
}

/* --- 5. the network --------------------------------------------------------------------- */
enum { CLIENTS = 100, LOAD_MS = 2000 };
static const char REQUEST[] = "GET / HTTP/1.1\r\nHost: showcase\r\n\r\n";
static const char ANSWER[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

typedef struct load {
    int port;
    int64_t until;
    gort_waitgroup clients;
    atomic_llong requests; /* answered so far */
    atomic_int errors;
} load;

/* Server side: answer every request that arrives on this connection until it closes. */
static void http_conn(void *arg) {
    int fd = (int)(intptr_t)arg;
    char buf[4096];
    size_t have = 0;
    for (;;) {
        ssize_t n = gort_read(fd, buf + have, sizeof buf - have, gort_deadline_in(10000 * MS));
        if (n <= 0) break;
        have += (size_t)n;
        char *end;
        while ((end = memmem(buf, have, "\r\n\r\n", 4)) != NULL) { /* one request each */
            if (gort_write(fd, ANSWER, sizeof ANSWER - 1, gort_deadline_in(10000 * MS)) < 0) goto out;
            size_t used = (size_t)(end + 4 - buf);
            memmove(buf, buf + used, have - used);
            have -= used;
        }
        if (have == sizeof buf) break;
    }
out:
    gort_close(fd);
}

static void http_server(void *arg) {
    int ln = (int)(intptr_t)arg;
    for (int fd; (fd = gort_accept(ln, GORT_FOREVER)) >= 0;) gort_go(http_conn, (void *)(intptr_t)fd);
    /* gort_close(ln) from the main goroutine ends the loop with GORT_EBADF */
}

/* Client side: one keep-alive connection, one request at a time, until the time is up. */
static void http_client(void *arg) {
    load *ld = arg;
    char addr[32], buf[256];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", ld->port);
    int err = 0;
    int fd = gort_tcp_dial(addr, gort_deadline_in(5000 * MS));
    if (fd < 0) err = 1;
    while (!err && gort_now() < ld->until) {
        if (gort_write(fd, REQUEST, sizeof REQUEST - 1, gort_deadline_in(5000 * MS)) < 0) { err = 1; break; }
        size_t have = 0;
        while (have < sizeof ANSWER - 1) {
            ssize_t n = gort_read(fd, buf + have, sizeof ANSWER - 1 - have, gort_deadline_in(5000 * MS));
            if (n <= 0) { err = 1; break; }
            have += (size_t)n;
        }
        if (err || memcmp(buf, ANSWER, sizeof ANSWER - 1) != 0) { err = 1; break; }
        atomic_fetch_add_explicit(&ld->requests, 1, memory_order_relaxed);
    }
    if (fd >= 0) gort_close(fd);
    if (err) atomic_fetch_add(&ld->errors, 1);
    gort_waitgroup_done(&ld->clients);
}

static int http_under_load(void) {
    int ln = gort_tcp_listen("127.0.0.1:0", 0);
    if (ln < 0) {
        printf("5. network: listen failed: %s\n", gort_strerror(ln));
        return 1;
    }
    load ld = {.port = gort_local_port(ln), .clients = GORT_WAITGROUP_INIT};
    printf("5. network: HTTP server on 127.0.0.1:%d, %d keep-alive clients for %d ms\n", ld.port,
           CLIENTS, LOAD_MS);
    gort_go(http_server, (void *)(intptr_t)ln);
    int64_t start = gort_now();
    ld.until = start + LOAD_MS * MS;
    gort_waitgroup_add(&ld.clients, CLIENTS);
    for (int i = 0; i < CLIENTS; i++) gort_go(http_client, &ld);
    /* Progress every 500 ms from a ticker: the ticker's channel delivers the time each tick was due. */
    gort_ticker *tick = gort_ticker_new(500 * MS);
    long long last = 0;
    int64_t last_t = start;
    while (gort_now() < ld.until) {
        int64_t fired;
        gort_chan_recv(gort_ticker_chan(tick), &fired);
        long long n = atomic_load(&ld.requests);
        printf("   %5.0f ms: %7lld requests, %7.0f requests/s\n", (double)(fired - start) / MS, n,
               (double)(n - last) * 1e9 / (double)(fired - last_t));
        last = n, last_t = fired;
    }
    gort_ticker_free(tick);
    gort_waitgroup_wait(&ld.clients);
    double secs = (double)(gort_now() - start) / 1e9;
    gort_close(ln);
    long long total = atomic_load(&ld.requests);
    int errors = atomic_load(&ld.errors);
    printf("   %lld requests answered in %.2f s (%.0f/s), %d client errors\n", total, secs,
           (double)total / secs, errors);
    return errors != 0;
}

/* --- 6. the garbage-collected heap ------------------------------------------------------- */
struct tree {
    struct tree *left, *right; /* pointer fields: declared to the collector below */
    int64_t value;
};
static const gort_type *tree_type;
static struct tree *kept; /* a C global: a root once registered */

static struct tree *build(int depth, int64_t value) {
    struct tree *t = gort_new(tree_type); /* zeroed; no free: the collector reclaims it */
    t->value = value;
    if (depth > 0) {
        t->left = build(depth - 1, 2 * value);
        t->right = build(depth - 1, 2 * value + 1);
    }
    return t;
}

static int64_t sum(const struct tree *t) { return t ? t->value + sum(t->left) + sum(t->right) : 0; }

static gort_waitgroup tree_wg;
static _Atomic int64_t tree_total;

static void tree_worker(void *arg) {
    (void)arg;
    for (int i = 0; i < 200; i++) atomic_fetch_add(&tree_total, sum(build(10, 1))); /* 2047 nodes each */
    gort_waitgroup_done(&tree_wg);
}

static int gc_heap(void) {
    printf("6. garbage-collected heap: %d goroutines build and drop 200 trees of 2047 nodes each\n",
           gort_num_cpu());
    static const size_t ptrs[] = {offsetof(struct tree, left), offsetof(struct tree, right)};
    tree_type = gort_type_new("tree", sizeof(struct tree), ptrs, 2);
    gort_root_add(&kept, sizeof kept);
    kept = build(12, 1);
    int64_t kept_sum = sum(kept);
    int64_t t0 = gort_now();
    for (int i = 0; i < gort_num_cpu(); i++) {
        gort_waitgroup_add(&tree_wg, 1);
        gort_go(tree_worker, NULL);
    }
    gort_waitgroup_wait(&tree_wg);
    double secs = (double)(gort_now() - t0) / 1e9;
    gort_memstats m = {.size = sizeof m};
    gort_read_memstats(&m);
    int ok = sum(kept) == kept_sum; /* the registered tree survived every collection */
    printf("   %.2f s; %u collections, longest pause %.2f ms, heap now %.1f MiB of %.1f MiB "
           "allocated in all; kept tree %s\n",
           secs, m.num_gc, m.pause_max_ns / 1e6, m.heap_alloc / 1048576.0, m.total_alloc / 1048576.0,
           ok ? "intact" : "DAMAGED");
    gort_root_remove(&kept);
    return !ok;
}

static int main_goroutine(void *arg) {
    (void)arg;
    printf("gort showcase: %d CPUs\n\n", gort_num_cpu());
    int rc = worker_pool();
    sieve(25);
    printf("3. deadline: select on the reply channel with a timeout\n");
    call_with_deadline(200, 50);
    call_with_deadline(20, 500);
    printf("\n");
    many_sleepers();
    printf("\n");
    rc |= http_under_load();
    printf("\n");
    rc |= gc_heap();
    return rc;
}

int main(void) { return gort_main(main_goroutine, NULL); }
