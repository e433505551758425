// Caller mistakes, one table: every function of gort.h with its bad inputs (NULLs,
// negative and huge sizes, bad fds, deadlines far in the past and future, malformed
// select cases, misuse of sync objects) and the result the rule in gort.h's preamble
// promises for it: a GORT_E* code (int/ssize_t functions), NULL with errno (pointer
// functions), a recoverable gort panic with its message (void functions, and Go's
// run-time panics), or a fatal error (Go's throws), which runs in a child process forked
// before this program starts the runtime, and must exit 2 with the message.
// The table must name every function declared in include/gort.h: a new function without
// rows fails the test (the header is read through this file's path). Every in-process
// row runs under gort_protect, so an unexpected panic fails its row, not the program.
// BAD_ARGS_VERBOSE=1 names each row as it runs.
// ASAN: yes
// TIMEOUT: 120
#include "check.h"
#include "gort.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static const int64_t MS = 1000000;
static const int64_t HOUR = 3600LL * 1000000000LL;
/* A wait that must time out: long enough that its deadline cannot pass before the call
   starts on a loaded machine (then the answer would rightly be GORT_EAGAIN). */
static const int64_t TIMEOUT = 20 * 1000000LL;

/* --- fixtures, made in make_fixtures() and freed in free_fixtures() --------------------- */
static gort_chan *ch_int;     /* int elements, capacity 1, empty */
static gort_chan *ch_closed;  /* int elements, closed */
static gort_timer *timer_far; /* pending for an hour */
static gort_ticker *ticker_far;
static int pipe_r = -1, pipe_w = -1; /* an empty pipe */
static int udp = -1;                 /* a bound UDP socket */
static char buf[64] __attribute__((aligned(16)));
static char long_path[300];

/* --- the kinds of rows ---------------------------------------------------------------- */
enum kind {
    RET,    /* call() returns the function's result; it must equal `want` */
    ERRNO,  /* call() returns the pointer (0 = NULL) the function returned, with errno
               cleared first; it must be NULL and errno `want` */
    PANICS, /* call() runs under gort_protect; it must panic with `msg` in the message */
    FATAL,  /* call() runs in a child process; it must exit 2 printing `msg` */
    FIRST,  /* as RET, but before anything has started the runtime (gort_init) */
};

struct row {
    const char *func;  /* the gort_* function the row is about */
    const char *input; /* what is wrong with the call */
    enum kind kind;
    long long want;
    const char *msg;
    long long (*call)(void);
};

#define FN(name, body) static long long name(void) { body }

/* Runtime and goroutines. */
static int returns_7(void *arg) { (void)arg; return 7; }
static void nothing(void *arg) { (void)arg; }
FN(init_again, return gort_init(NULL);)
static gort_config bad_config;
FN(init_negative_procs, bad_config = (gort_config){.maxprocs = -1}; return gort_init(&bad_config);)
FN(init_tiny_stack, bad_config = (gort_config){.stack_size = 1}; return gort_init(&bad_config);)
FN(init_huge_stack, bad_config = (gort_config){.stack_size = SIZE_MAX}; return gort_init(&bad_config);)
FN(main_null, return gort_main(NULL, NULL);)
FN(main_nested, return gort_main(returns_7, NULL);)
FN(go_null, return gort_go(NULL, NULL);)
FN(gosched_ok, gort_gosched(); return 0;)
FN(goid_ok, return gort_goid() > 0;)
FN(num_goroutine_ok, return gort_num_goroutine() >= 1;)
FN(num_cpu_ok, return gort_num_cpu() >= 1;)
FN(version_ok, return gort_version() != NULL;)
static long long gomaxprocs_huge(void) {
    int old = gort_gomaxprocs(INT_MAX); /* clamped to the maximum, not INT_MAX Ps */
    int now = gort_gomaxprocs(0);
    gort_gomaxprocs(old);
    return now >= 1 && now <= 1024;
}
FN(gomaxprocs_negative, return gort_gomaxprocs(INT_MIN) == gort_gomaxprocs(0);)
FN(unlock_os_thread_extra, gort_unlock_os_thread(); gort_unlock_os_thread(); return 0;)
FN(lock_os_thread_pair, gort_lock_os_thread(); gort_unlock_os_thread(); return 0;)
/* Heap: threads and the collector. */
FN(thread_register_goroutine, return gort_thread_register();)
FN(thread_unregister_goroutine, return gort_thread_unregister();)
static void *unregister_fresh_thread(void *out) {
    *(int *)out = gort_thread_unregister(); /* its first gort call: not registered */
    return NULL;
}
static long long thread_unregister_never_registered(void) {
    pthread_t t;
    int r = 1;
    CHECK_EQ(pthread_create(&t, NULL, unregister_fresh_thread, &r), 0);
    CHECK_EQ(pthread_join(t, NULL), 0);
    return r;
}
FN(blocking_exit_alone, gort_blocking_exit(); return 0;)
FN(blocking_enter_nested, gort_blocking_enter(); gort_blocking_enter(); return 0;)
static void goexit_on_thread(void *arg) {
    (void)arg;
    gort_goexit();
}
FN(goexit_outside, goexit_on_thread(NULL); return 0;)

/* Errors. */
FN(strerror_min, return gort_strerror(INT_MIN) != NULL;)
FN(strerror_max, return gort_strerror(INT_MAX) != NULL;)

/* Channels. */
FN(make_overflow, return (long long)(intptr_t)gort_chan_make(SIZE_MAX, 2);)
FN(make_huge, return (long long)(intptr_t)gort_chan_make((size_t)1 << 40, (size_t)1 << 40);)
FN(make_huge_cap, return (long long)(intptr_t)gort_chan_make(8, SIZE_MAX / 4);)
FN(retain_null, gort_chan_retain(NULL); return 0;)
FN(release_null, gort_chan_release(NULL); return 0;)
FN(send_null_elem, return gort_chan_send(ch_int, NULL);)
FN(send_until_null_elem, return gort_chan_send_until(ch_int, NULL, GORT_FOREVER);)
FN(send_until_nil_past, int v = 1; return gort_chan_send_until(NULL, &v, INT64_MIN);)
FN(send_until_nil_minus2, int v = 1; return gort_chan_send_until(NULL, &v, -2);)
FN(send_until_nil_soon, int v = 1; return gort_chan_send_until(NULL, &v, gort_deadline_in(TIMEOUT));)
static long long send_until_room_past(void) { /* a send that need not wait is no mistake */
    int v = 5;
    int r = gort_chan_send_until(ch_int, &v, INT64_MIN);
    CHECK_EQ(gort_chan_recv_until(ch_int, &v, 0), 1);
    CHECK_EQ(v, 5);
    return r;
}
FN(send_closed, int v = 1; return gort_chan_send(ch_closed, &v);)
FN(send_until_closed, int v = 1; return gort_chan_send_until(ch_closed, &v, 0);)
FN(recv_until_nil_past, int v; return gort_chan_recv_until(NULL, &v, INT64_MIN);)
FN(recv_until_empty_past, int v; return gort_chan_recv_until(ch_int, &v, INT64_MIN);)
static void send_later(void *arg) {
    gort_gosched();
    int v = 9;
    CHECK_EQ(gort_chan_send(arg, &v), 0);
}
static long long recv_until_far_future(void) { /* INT64_MAX is a deadline, not overflow */
    int v = 0;
    CHECK_EQ(gort_go(send_later, ch_int), 0);
    int r = gort_chan_recv_until(ch_int, &v, INT64_MAX);
    CHECK_EQ(v, 9);
    return r;
}
static long long recv_discard(void) {
    int v = 3;
    CHECK_EQ(gort_chan_send(ch_int, &v), 0);
    return gort_chan_recv(ch_int, NULL); /* NULL out: the value is dropped, not a mistake */
}
FN(recv_closed, int v = 7; int r = gort_chan_recv(ch_closed, &v); CHECK_EQ(v, 0); return r;)
FN(close_nil, return gort_chan_close(NULL);)
FN(close_closed, return gort_chan_close(ch_closed);)
FN(len_nil, return (long long)gort_chan_len(NULL);)
FN(cap_nil, return (long long)gort_chan_cap(NULL);)
static atomic_int about_to_block;
static void block_on_chan(void *arg) {
    int v;
    atomic_store(&about_to_block, 1);
    gort_chan_recv(arg, &v);
}
static long long release_busy(void) {
    gort_chan *c = gort_chan_make(sizeof(int), 0);
    CHECK_EQ(gort_go(block_on_chan, c), 0);
    while (!atomic_load(&about_to_block)) gort_sleep(MS);
    gort_sleep(20 * MS); /* from the flag to parked is a few instructions */
    gort_chan_release(c);
    return 0;
}

/* Select. */
static gort_case cases[2];
FN(select_null_cases, return gort_select(NULL, 1, 0);)
FN(select_too_many, return gort_select(cases, (size_t)GORT_SELECT_MAX_CASES + 1, 0);)
FN(select_size_max, return gort_select(cases, SIZE_MAX, 0);)
static long long select_dir(int dir) {
    memset(cases, 0, sizeof cases);
    cases[0] = (gort_case){.chan = ch_int, .dir = GORT_RECV};
    cases[1] = (gort_case){.chan = ch_int, .dir = dir};
    return gort_select(cases, 2, 0);
}
FN(select_dir_0, return select_dir(0);)
FN(select_dir_3, return select_dir(3);)
FN(select_dir_neg, return select_dir(-1);)
FN(select_send_null_elem, return select_dir(GORT_SEND);) /* elem NULL, elem_size 4 */
FN(select_none_past, return gort_select(NULL, 0, INT64_MIN);)
FN(select_none_soon, return gort_select(NULL, 0, gort_deadline_in(TIMEOUT));)
static long long select_nil_chans(void) {
    memset(cases, 0, sizeof cases);
    cases[0].dir = GORT_RECV;
    cases[1].dir = GORT_SEND; /* NULL channel: off, so a NULL elem is fine */
    return gort_select(cases, 2, 0);
}
static long long select_send_closed(void) {
    static int v = 1;
    memset(cases, 0, sizeof cases);
    cases[0] = (gort_case){.chan = ch_closed, .dir = GORT_SEND, .elem = &v};
    return gort_select(cases, 1, 0);
}

/* Sync. */
static gort_mutex mu;
static gort_rwmutex rw;
static gort_cond cond;
static gort_once once;
FN(mutex_lock_null, gort_mutex_lock(NULL); return 0;)
FN(mutex_trylock_null, return gort_mutex_trylock(NULL);)
FN(mutex_unlock_null, gort_mutex_unlock(NULL); return 0;)
FN(mutex_unlock_unlocked, gort_mutex m = GORT_MUTEX_INIT; gort_mutex_unlock(&m); return 0;)
FN(rw_rlock_null, gort_rwmutex_rlock(NULL); return 0;)
FN(rw_runlock_null, gort_rwmutex_runlock(NULL); return 0;)
FN(rw_lock_null, gort_rwmutex_lock(NULL); return 0;)
FN(rw_unlock_null, gort_rwmutex_unlock(NULL); return 0;)
FN(rw_trylock_null, return gort_rwmutex_trylock(NULL);)
FN(rw_tryrlock_null, return gort_rwmutex_tryrlock(NULL);)
FN(rw_runlock_unlocked, gort_rwmutex_runlock(&rw); return 0;)
FN(rw_unlock_unlocked, gort_rwmutex_unlock(&rw); return 0;)
FN(rw_unlock_read_locked, gort_rwmutex_rlock(&rw); gort_rwmutex_unlock(&rw); return 0;)
FN(cond_wait_null, gort_cond_wait(NULL, &mu); return 0;)
FN(cond_wait_null_mutex, gort_cond_wait(&cond, NULL); return 0;)
FN(cond_wait_unlocked, gort_cond_wait(&cond, &mu); return 0;)
FN(cond_signal_null, gort_cond_signal(NULL); return 0;)
FN(cond_broadcast_null, gort_cond_broadcast(NULL); return 0;)
FN(wg_add_null, gort_waitgroup_add(NULL, 1); return 0;)
FN(wg_add_negative, gort_waitgroup wg = GORT_WAITGROUP_INIT; gort_waitgroup_add(&wg, -1); return 0;)
FN(wg_add_huge, gort_waitgroup wg = GORT_WAITGROUP_INIT; gort_waitgroup_add(&wg, INT64_MAX); return 0;)
FN(wg_add_min, gort_waitgroup wg = GORT_WAITGROUP_INIT; gort_waitgroup_add(&wg, INT64_MIN); return 0;)
FN(wg_done_null, gort_waitgroup_done(NULL); return 0;)
FN(wg_done_zero, gort_waitgroup wg = GORT_WAITGROUP_INIT; gort_waitgroup_done(&wg); return 0;)
FN(wg_wait_null, gort_waitgroup_wait(NULL); return 0;)
FN(wg_go_null, return gort_waitgroup_go(NULL, nothing, NULL);)
static long long wg_go_null_fn(void) {
    gort_waitgroup wg = GORT_WAITGROUP_INIT;
    int r = gort_waitgroup_go(&wg, NULL, NULL);
    gort_waitgroup_wait(&wg); /* the counter was not touched: returns at once */
    return r;
}
FN(once_null, gort_once_do(NULL, nothing, NULL); return 0;)
FN(once_null_fn, gort_once_do(&once, NULL, NULL); return 0;)
FN(sema_init_null, gort_sema_init(NULL, 1); return 0;)
FN(sema_init_negative, gort_sema s = GORT_SEMA_INIT(0); gort_sema_init(&s, -1); return 0;)
FN(sema_acquire_null, return gort_sema_acquire(NULL, 1, 0);)
FN(sema_acquire_zero, gort_sema s = GORT_SEMA_INIT(1); return gort_sema_acquire(&s, 0, 0);)
FN(sema_acquire_negative, gort_sema s = GORT_SEMA_INIT(1); return gort_sema_acquire(&s, INT64_MIN, 0);)
FN(sema_acquire_past, gort_sema s = GORT_SEMA_INIT(0); return gort_sema_acquire(&s, 1, INT64_MIN);)
FN(sema_acquire_far, gort_sema s = GORT_SEMA_INIT(2); return gort_sema_acquire(&s, 2, INT64_MAX);)
FN(sema_release_null, gort_sema_release(NULL, 1); return 0;)
FN(sema_release_zero, gort_sema s = GORT_SEMA_INIT(0); gort_sema_release(&s, 0); return 0;)
FN(sema_release_negative, gort_sema s = GORT_SEMA_INIT(0); gort_sema_release(&s, -1); return 0;)

/* Time. */
FN(now_ok, return gort_now() > 0;)
FN(deadline_in_min, int64_t d = gort_deadline_in(INT64_MIN); return d >= 0 && d <= gort_now();)
FN(deadline_in_before_zero, return gort_deadline_in(-gort_now() - 1) >= 0;)
FN(deadline_in_max, return gort_deadline_in(INT64_MAX) == INT64_MAX;)
FN(sleep_min, gort_sleep(INT64_MIN); return 0;)
FN(sleep_until_min, return gort_sleep_until(INT64_MIN);)
FN(sleep_until_minus2, return gort_sleep_until(-2);)
static atomic_int far_sleeper_woke;
static void sleep_far(void *arg) {
    (void)arg;
    gort_sleep(INT64_MAX);
    atomic_store(&far_sleeper_woke, 1);
}
static long long sleep_max(void) { /* must not overflow into "now" */
    CHECK_EQ(gort_go(sleep_far, NULL), 0);
    gort_sleep(20 * MS);
    return atomic_load(&far_sleeper_woke);
}
static long long after_min(void) {
    int64_t v = 0;
    gort_chan *c = gort_after(INT64_MIN);
    CHECK(c != NULL);
    int r = gort_chan_recv(c, &v);
    gort_chan_release(c);
    return r;
}
static long long after_max(void) {
    int64_t v;
    gort_chan *c = gort_after(INT64_MAX);
    CHECK(c != NULL);
    int r = gort_chan_recv_until(c, &v, gort_deadline_in(TIMEOUT));
    gort_chan_release(c);
    return r;
}
static long long timer_new_max(void) {
    gort_timer *t = gort_timer_new(INT64_MAX);
    CHECK(t != NULL);
    int r = gort_timer_stop(t); /* still pending */
    gort_timer_free(t);
    return r;
}
FN(after_func_null, return (long long)(intptr_t)gort_after_func(MS, NULL, NULL);)
static long long after_func_max(void) {
    gort_timer *t = gort_after_func(INT64_MAX, nothing, NULL);
    CHECK(t != NULL);
    errno = 0;
    CHECK(gort_timer_chan(t) == NULL); /* no channel, and no error either */
    CHECK_EQ(errno, 0);
    int r = gort_timer_stop(t);
    gort_timer_free(t);
    return r;
}
FN(timer_chan_null, return (long long)(intptr_t)gort_timer_chan(NULL);)
FN(timer_stop_null, return gort_timer_stop(NULL);)
FN(timer_reset_null, return gort_timer_reset(NULL, MS);)
FN(timer_reset_max, return gort_timer_reset(timer_far, INT64_MAX);)
static long long timer_reset_min(void) {
    gort_timer *t = gort_timer_new(HOUR);
    int64_t v = 0;
    CHECK_EQ(gort_timer_reset(t, INT64_MIN), 1); /* fires at once */
    int r = gort_chan_recv(gort_timer_chan(t), &v);
    gort_timer_free(t);
    return r;
}
FN(timer_free_null, gort_timer_free(NULL); return 0;)
FN(ticker_new_zero, return (long long)(intptr_t)gort_ticker_new(0);)
FN(ticker_new_min, return (long long)(intptr_t)gort_ticker_new(INT64_MIN);)
static long long ticker_new_max(void) {
    int64_t v;
    gort_ticker *t = gort_ticker_new(INT64_MAX);
    CHECK(t != NULL);
    int r = gort_chan_recv_until(gort_ticker_chan(t), &v, gort_deadline_in(TIMEOUT));
    gort_ticker_free(t);
    return r;
}
FN(ticker_chan_null, return (long long)(intptr_t)gort_ticker_chan(NULL);)
FN(ticker_reset_null, gort_ticker_reset(NULL, MS); return 0;)
FN(ticker_stop_null, gort_ticker_stop(NULL); return 0;)
FN(ticker_reset_zero, gort_ticker_reset(ticker_far, 0); return 0;)
FN(ticker_reset_min, gort_ticker_reset(ticker_far, INT64_MIN); return 0;)
FN(ticker_free_null, gort_ticker_free(NULL); return 0;)

/* File descriptors and the network. */
enum { NOT_OPEN = 1000000 };
FN(fd_wait_neg, return gort_fd_wait(-1, GORT_READABLE, 0);)
FN(fd_wait_not_open, return gort_fd_wait(NOT_OPEN, GORT_READABLE, 0);)
FN(fd_wait_int_max, return gort_fd_wait(INT_MAX, GORT_READABLE, 0);)
FN(fd_wait_no_events, return gort_fd_wait(pipe_r, 0, 0);)
FN(fd_wait_bad_events, return gort_fd_wait(pipe_r, 4, 0);)
FN(fd_wait_neg_events, return gort_fd_wait(pipe_r, -1, 0);)
FN(fd_wait_past, return gort_fd_wait(pipe_r, GORT_READABLE, INT64_MIN);)
FN(read_neg, return gort_read(-1, buf, 1, 0);)
FN(read_not_open, return gort_read(NOT_OPEN, buf, 1, 0);)
FN(read_null_buf, return gort_read(pipe_r, NULL, 1, 0);)
FN(read_huge, return gort_read(pipe_r, buf, SIZE_MAX, 0);)
FN(read_past, return gort_read(pipe_r, buf, 1, INT64_MIN);)
FN(write_neg, return gort_write(-1, "x", 1, 0);)
FN(write_null_buf, return gort_write(pipe_w, NULL, 1, 0);)
FN(write_huge, return gort_write(pipe_w, buf, SIZE_MAX, 0);)
FN(close_neg, return gort_close(-1);)
FN(close_not_open, return gort_close(NOT_OPEN);)
FN(close_int_max, return gort_close(INT_MAX);)
FN(tcp_listen_null, return gort_tcp_listen(NULL, 0);)
FN(tcp_listen_nonsense, return gort_tcp_listen("nonsense", 0);)
FN(tcp_listen_bad_port, return gort_tcp_listen("127.0.0.1:99999", 0);)
FN(tcp_listen_neg_port, return gort_tcp_listen("127.0.0.1:-1", 0);)
FN(tcp_dial_null, return gort_tcp_dial(NULL, 0);)
FN(tcp_dial_nonsense, return gort_tcp_dial("nonsense", 0);)
FN(accept_neg, return gort_accept(-1, 0);)
FN(accept_not_open, return gort_accept(NOT_OPEN, INT64_MAX);)
FN(local_port_neg, return gort_local_port(-1);)
FN(udp_bind_null, return gort_udp_bind(NULL);)
FN(udp_bind_nonsense, return gort_udp_bind("nonsense");)
FN(udp_dial_null, return gort_udp_dial(NULL);)
FN(udp_dial_nonsense, return gort_udp_dial("1.2.3.4");)
FN(recvfrom_neg, return gort_recvfrom(-1, buf, 1, NULL, NULL, 0);)
FN(recvfrom_null_buf, return gort_recvfrom(udp, NULL, 1, NULL, NULL, 0);)
FN(recvfrom_huge, return gort_recvfrom(udp, buf, SIZE_MAX, NULL, NULL, 0);)
FN(recvfrom_past, return gort_recvfrom(udp, buf, sizeof buf, NULL, NULL, INT64_MIN);)
FN(sendto_neg, return gort_sendto(-1, "x", 1, NULL, 0, 0);)
FN(sendto_null_buf, return gort_sendto(udp, NULL, 1, NULL, 0, 0);)
FN(sendto_huge, return gort_sendto(udp, buf, SIZE_MAX, NULL, 0, 0);)
static struct sockaddr_storage ss;
FN(sendto_tolen_zero, return gort_sendto(udp, "x", 1, &ss, 0, 0);)
FN(sendto_tolen_huge, return gort_sendto(udp, "x", 1, &ss, UINT32_MAX, 0);)
FN(sockaddr_parse_null, return gort_sockaddr_parse(NULL, &ss, NULL);)
FN(sockaddr_parse_null_out, return gort_sockaddr_parse("127.0.0.1:1", NULL, NULL);)
FN(sockaddr_parse_name, return gort_sockaddr_parse("localhost:1", &ss, NULL);)
FN(sockaddr_parse_short, uint32_t len = 2; return gort_sockaddr_parse("127.0.0.1:1", &ss, &len);)
FN(unix_listen_null, return gort_unix_listen(NULL, 0);)
FN(unix_listen_empty, return gort_unix_listen("", 0);)
FN(unix_listen_long, return gort_unix_listen(long_path, 0);)
FN(unix_dial_null, return gort_unix_dial(NULL, 0);)
FN(unix_dial_long, return gort_unix_dial(long_path, 0);)

/* Panics. */
FN(panic_null, gort_panic(NULL); return 0;)
FN(protect_null, const char *m; return gort_protect(NULL, NULL, &m);)
FN(defer_null, gort_defer(NULL, NULL); return 0;)

#define E(x) ((long long)(x))

/* Garbage-collected heap. */
static const size_t off_8[] = {8}, off_unaligned[] = {4}, off_past[] = {16}, off_dup[] = {0, 0};
FN(type_null_name, return (long long)(intptr_t)gort_type_new(NULL, 16, NULL, 0);)
FN(type_null_offsets, return (long long)(intptr_t)gort_type_new("t", 16, NULL, 1);)
FN(type_unaligned, return (long long)(intptr_t)gort_type_new("t", 16, off_unaligned, 1);)
FN(type_past_end, return (long long)(intptr_t)gort_type_new("t", 16, off_past, 1);)
FN(type_overlap_end, return (long long)(intptr_t)gort_type_new("t", 12, off_8, 1);)
FN(type_duplicate, return gort_type_new("t", 16, off_dup, 2) != NULL;)
FN(type_huge, return (long long)(intptr_t)gort_type_new("t", SIZE_MAX, NULL, 0);)
FN(new_null, return (long long)(intptr_t)gort_new(NULL);)
FN(new_array_null, return (long long)(intptr_t)gort_new_array(NULL, 1);)
static const gort_type *type_16(void) { return gort_type_new("sixteen", 16, off_8, 1); }
FN(new_array_overflow, return (long long)(intptr_t)gort_new_array(type_16(), SIZE_MAX / 8);)
FN(alloc_noscan_huge, return (long long)(intptr_t)gort_alloc_noscan(SIZE_MAX);)
FN(root_add_null, return gort_root_add(NULL, 8);)
FN(root_add_zero, return gort_root_add(buf, 0);)
FN(root_add_wraps, return gort_root_add(buf, SIZE_MAX);)
static long long root_add_overlap(void) {
    CHECK_EQ(gort_root_add(buf, 16), 0);
    int r = gort_root_add(buf + 8, 16);
    CHECK_EQ(gort_root_remove(buf), 0);
    return r;
}
FN(root_remove_null, return gort_root_remove(NULL);)
FN(root_remove_unknown, return gort_root_remove(buf + 1);)
FN(store_null, gort_store(NULL, buf); return 0;)
FN(store_range_null, gort_store_range(NULL, buf, 8); return 0;)
FN(store_range_zero, gort_store_range(NULL, NULL, 0); return 0;)
FN(cas_null, return gort_cas_ptr(NULL, NULL, buf);)
FN(cas_unaligned, return gort_cas_ptr((void **)(buf + 1), NULL, buf);)
FN(keep_alive_null, gort_keep_alive(NULL); return 0;)
FN(gc_plain, gort_gc(); return 0;)
FN(gc_percent_min, { int old = gort_set_gc_percent(INT_MIN); return gort_set_gc_percent(old) == -1 ? 0 : 1; })
FN(memlimit_query, return gort_set_memory_limit(INT64_MIN) > 0;)
FN(free_os_plain, gort_free_os_memory(); return 0;)
static void fin_noop(void *obj, void *arg) { (void)obj; (void)arg; }
static void cleanup_noop(void *arg) { (void)arg; }
FN(finalizer_null_obj, return gort_set_finalizer(NULL, fin_noop, NULL);)
FN(finalizer_not_heap, return gort_set_finalizer(buf, fin_noop, NULL);)
FN(finalizer_interior, { char *o = gort_alloc_noscan(64); return gort_set_finalizer(o + 8, fin_noop, NULL); })
FN(finalizer_twice, {
    void *o = gort_alloc_noscan(64);
    gort_set_finalizer(o, fin_noop, NULL);
    gort_set_finalizer(o, fin_noop, NULL);
    return 0;
})
FN(cleanup_null_fn, { void *o = gort_alloc_noscan(64); return gort_add_cleanup(o, NULL, NULL); })
FN(cleanup_not_heap, return gort_add_cleanup(buf, cleanup_noop, NULL);)
FN(cleanup_arg_is_obj, { void *o = gort_alloc_noscan(64); return gort_add_cleanup(o, cleanup_noop, o); })
FN(memstats_null, gort_read_memstats(NULL); return 0;)
FN(memstats_no_size, { gort_memstats m; memset(&m, 0, sizeof m); gort_read_memstats(&m); return 0; })
FN(memstats_short, {
    /* An older, shorter struct: only its fields are written. */
    unsigned char raw[sizeof(gort_memstats)];
    memset(raw, 0xee, sizeof raw);
    size_t sz = 16;
    memcpy(raw, &sz, sizeof sz);
    gort_read_memstats((gort_memstats *)(void *)raw);
    return raw[16] == 0xee && raw[sizeof raw - 1] == 0xee;
})


/* sync.Pool. */
FN(pool_get_null, return (long long)(intptr_t)gort_pool_get(NULL);)
FN(pool_put_null, gort_pool_put(NULL, buf); return 0;)
FN(pool_put_null_obj, {
    gort_pool *p = gort_pool_new(NULL, NULL, NULL);
    gort_pool_put(p, NULL);
    long long r = gort_pool_get(p) == NULL;
    gort_pool_free(p);
    return r;
})
FN(pool_new_nulls, {
    gort_pool *p = gort_pool_new(NULL, NULL, NULL);
    long long r = p != NULL && gort_pool_get(p) == NULL;
    gort_pool_free(p);
    return r;
})
FN(pool_free_null, gort_pool_free(NULL); return 0;)

/* Debugging and observability. */
static gort_chan *chan_of_size(size_t n) { return gort_chan_make(n, 1); }
FN(dump_bad_fd, return gort_dump_goroutines(-1);)
FN(dump_closed_fd, return gort_dump_goroutines(1000000);)
FN(notify_null, return gort_signal_notify(NULL, SIGUSR1);)
FN(notify_sigkill, gort_chan *c = chan_of_size(sizeof(int)); long long r = gort_signal_notify(c, SIGKILL);
   gort_chan_release(c); return r;)
FN(notify_out_of_range, gort_chan *c = chan_of_size(sizeof(int)); long long r = gort_signal_notify(c, 65);
   gort_chan_release(c); return r;)
FN(notify_not_int, gort_chan *c = chan_of_size(1); long long r = gort_signal_notify(c, SIGUSR1);
   gort_chan_release(c); return r;)
FN(signal_stop_null, return gort_signal_stop(NULL);)
FN(profile_null, return gort_profile_write(NULL, 2);)
FN(profile_unknown, return gort_profile_write("heapz", 2);)
FN(profile_bad_fd, return gort_profile_write("goroutine", -1);)
FN(block_rate_negative, gort_set_block_profile_rate(-5); return gort_set_block_profile_rate(0);)
FN(mutex_fraction_negative, return gort_set_mutex_profile_fraction(-1);)
FN(trace_bad_fd, return gort_trace_start(-1);)
FN(trace_stop_none, return gort_trace_stop();)
FN(stack_null_buf, return (long long)gort_stack(NULL, 100, 0);)
FN(stack_zero_len, return (long long)gort_stack(buf, 0, 1);)
FN(caller_negative, uintptr_t pc = 0; return gort_caller(-1, &pc, NULL, NULL, NULL);)
FN(caller_too_deep, return gort_caller(INT_MAX, NULL, NULL, NULL, NULL);)
FN(cpuprof_bad_fd, return gort_cpu_profile_start(-1, 100);)
FN(cpuprof_closed_fd, return gort_cpu_profile_start(1000000, 0);)
FN(cpuprof_stop_none, return gort_cpu_profile_stop();)

/* sync.Map. */
static int range_yes(uintptr_t k, uintptr_t v, void *ctx) {
    (void)k, (void)v, (void)ctx;
    return 1;
}
FN(syncmap_free_null, gort_syncmap_free(NULL); return 0;)
FN(syncmap_load_null, uintptr_t v; return gort_syncmap_load(NULL, 1, &v);)
FN(syncmap_store_null, gort_syncmap_store(NULL, 1, 2); return 0;)
FN(syncmap_los_null, uintptr_t v; return gort_syncmap_load_or_store(NULL, 1, 2, &v);)
FN(syncmap_lad_null, uintptr_t v; return gort_syncmap_load_and_delete(NULL, 1, &v);)
FN(syncmap_delete_null, gort_syncmap_delete(NULL, 1); return 0;)
FN(syncmap_swap_null, uintptr_t v; return gort_syncmap_swap(NULL, 1, 2, &v);)
FN(syncmap_cas_null, return gort_syncmap_compare_and_swap(NULL, 1, 2, 3);)
FN(syncmap_cad_null, return gort_syncmap_compare_and_delete(NULL, 1, 2);)
FN(syncmap_range_null, gort_syncmap_range(NULL, range_yes, NULL); return 0;)
FN(syncmap_clear_null, gort_syncmap_clear(NULL); return 0;)
static void syncmap_free_deferred(void *m) {
    gort_syncmap_free(m);
}
static long long syncmap_range_null_fn(void) {
    gort_syncmap *m = gort_syncmap_new();
    CHECK(m != NULL);
    gort_defer(syncmap_free_deferred, m); /* runs when the panic ends the row's protect */
    gort_syncmap_range(m, NULL, NULL);
    return 0;
}
/* Results not wanted: NULL result pointers are allowed. */
static long long syncmap_null_results(void) {
    gort_syncmap *m = gort_syncmap_new();
    CHECK(m != NULL);
    int r = gort_syncmap_load(m, 1, NULL) + gort_syncmap_load_or_store(m, 1, 2, NULL) +
            gort_syncmap_swap(m, 1, 3, NULL) + gort_syncmap_load_and_delete(m, 1, NULL);
    gort_syncmap_free(m);
    return r; /* 0 + 0 + 1 + 1 */
}
static long long syncmap_after_free(void) {
    gort_syncmap *m = gort_syncmap_new();
    CHECK(m != NULL);
    gort_syncmap_store(m, 1, 2);
    gort_syncmap_free(m);
    return gort_syncmap_load(m, 1, NULL); /* undefined behaviour, caught while unused */
}

static const struct row rows[] = {
    {"gort_init", "maxprocs -1", FIRST, E(GORT_EINVAL), NULL, init_negative_procs},
    {"gort_init", "stack_size 1", FIRST, E(GORT_EINVAL), NULL, init_tiny_stack},
    {"gort_init", "stack_size SIZE_MAX", FIRST, E(GORT_EINVAL), NULL, init_huge_stack},
    {"gort_init", "after the runtime started", RET, E(GORT_EBUSY), NULL, init_again},
    {"gort_main", "NULL fn", RET, E(GORT_EINVAL), NULL, main_null},
    {"gort_main", "called from a goroutine", RET, E(GORT_EINVAL), NULL, main_nested},
    {"gort_go", "NULL fn", RET, E(GORT_EINVAL), NULL, go_null},
    {"gort_gosched", "no arguments: nothing to get wrong", RET, 0, NULL, gosched_ok},
    {"gort_goexit", "on a thread that runs no goroutine", FATAL, 0,
     "fatal error: gort_goexit called outside a goroutine", goexit_outside},
    {"gort_goid", "no arguments", RET, 1, NULL, goid_ok},
    {"gort_num_goroutine", "no arguments", RET, 1, NULL, num_goroutine_ok},
    {"gort_gomaxprocs", "INT_MAX: clamped", RET, 1, NULL, gomaxprocs_huge},
    {"gort_gomaxprocs", "INT_MIN: only queries", RET, 1, NULL, gomaxprocs_negative},
    {"gort_num_cpu", "no arguments", RET, 1, NULL, num_cpu_ok},
    {"gort_version", "no arguments", RET, 1, NULL, version_ok},
    {"gort_lock_os_thread", "no arguments", RET, 0, NULL, lock_os_thread_pair},
    {"gort_thread_register", "in a goroutine (registered already)", RET, 0, NULL, thread_register_goroutine},
    {"gort_thread_unregister", "in a goroutine", RET, GORT_EINVAL, NULL, thread_unregister_goroutine},
    {"gort_thread_unregister", "on a thread never registered", RET, GORT_EINVAL, NULL,
     thread_unregister_never_registered},
    {"gort_unlock_os_thread", "without a lock: ignored", RET, 0, NULL, unlock_os_thread_extra},
    {"gort_blocking_enter", "inside a region", FATAL, 0,
     "fatal error: gort_blocking_enter inside a blocking region", blocking_enter_nested},
    {"gort_blocking_exit", "without gort_blocking_enter", FATAL, 0,
     "fatal error: gort_blocking_exit without gort_blocking_enter", blocking_exit_alone},

    {"gort_strerror", "INT_MIN", RET, 1, NULL, strerror_min},
    {"gort_strerror", "INT_MAX", RET, 1, NULL, strerror_max},

    {"gort_chan_make", "elem_size * cap overflows", ERRNO, EINVAL, NULL, make_overflow},
    {"gort_chan_make", "2^80 bytes", ERRNO, EINVAL, NULL, make_huge},
    {"gort_chan_make", "cap SIZE_MAX/4 of 8 bytes", ERRNO, EINVAL, NULL, make_huge_cap},
    {"gort_chan_retain", "NULL: ignored", RET, 0, NULL, retain_null},
    {"gort_chan_release", "NULL: ignored", RET, 0, NULL, release_null},
    {"gort_chan_release", "goroutines blocked on it", FATAL, 0,
     "fatal error: gort_chan_release: channel freed while goroutines are blocked on it", release_busy},
    {"gort_chan_send", "NULL elem", RET, E(GORT_EINVAL), NULL, send_null_elem},
    {"gort_chan_send", "closed channel", PANICS, 0, "send on closed channel", send_closed},
    {"gort_chan_send_until", "NULL elem", RET, E(GORT_EINVAL), NULL, send_until_null_elem},
    {"gort_chan_send_until", "NULL channel, INT64_MIN", RET, E(GORT_EAGAIN), NULL, send_until_nil_past},
    {"gort_chan_send_until", "NULL channel, deadline -2", RET, E(GORT_EAGAIN), NULL, send_until_nil_minus2},
    {"gort_chan_send_until", "NULL channel, 20 ms", RET, E(GORT_ETIMEDOUT), NULL, send_until_nil_soon},
    {"gort_chan_send_until", "INT64_MIN with room: sends", RET, 0, NULL, send_until_room_past},
    {"gort_chan_send_until", "closed channel", PANICS, 0, "send on closed channel", send_until_closed},
    {"gort_chan_recv", "NULL out: discards", RET, 1, NULL, recv_discard},
    {"gort_chan_recv", "closed: 0, out zeroed", RET, 0, NULL, recv_closed},
    {"gort_chan_recv_until", "NULL channel, INT64_MIN", RET, E(GORT_EAGAIN), NULL, recv_until_nil_past},
    {"gort_chan_recv_until", "empty, INT64_MIN", RET, E(GORT_EAGAIN), NULL, recv_until_empty_past},
    {"gort_chan_recv_until", "INT64_MAX: waits", RET, 1, NULL, recv_until_far_future},
    {"gort_chan_close", "NULL", PANICS, 0, "close of nil channel", close_nil},
    {"gort_chan_close", "closed", PANICS, 0, "close of closed channel", close_closed},
    {"gort_chan_len", "NULL", RET, 0, NULL, len_nil},
    {"gort_chan_cap", "NULL", RET, 0, NULL, cap_nil},

    {"gort_select", "NULL cases, n 1", RET, E(GORT_EINVAL), NULL, select_null_cases},
    {"gort_select", "n > GORT_SELECT_MAX_CASES", RET, E(GORT_EINVAL), NULL, select_too_many},
    {"gort_select", "n SIZE_MAX", RET, E(GORT_EINVAL), NULL, select_size_max},
    {"gort_select", "dir 0", RET, E(GORT_EINVAL), NULL, select_dir_0},
    {"gort_select", "dir 3", RET, E(GORT_EINVAL), NULL, select_dir_3},
    {"gort_select", "dir -1", RET, E(GORT_EINVAL), NULL, select_dir_neg},
    {"gort_select", "send case, NULL elem", RET, E(GORT_EINVAL), NULL, select_send_null_elem},
    {"gort_select", "no cases, INT64_MIN", RET, E(GORT_EAGAIN), NULL, select_none_past},
    {"gort_select", "no cases, 20 ms", RET, E(GORT_ETIMEDOUT), NULL, select_none_soon},
    {"gort_select", "only NULL channels", RET, E(GORT_EAGAIN), NULL, select_nil_chans},
    {"gort_select", "send on a closed channel", PANICS, 0, "send on closed channel", select_send_closed},

    {"gort_mutex_lock", "NULL", PANICS, 0, "gort_mutex_lock: nil mutex", mutex_lock_null},
    {"gort_mutex_trylock", "NULL", RET, E(GORT_EINVAL), NULL, mutex_trylock_null},
    {"gort_mutex_unlock", "NULL", PANICS, 0, "gort_mutex_unlock: nil mutex", mutex_unlock_null},
    {"gort_mutex_unlock", "unlocked", FATAL, 0, "fatal error: sync: unlock of unlocked mutex", mutex_unlock_unlocked},
    {"gort_rwmutex_rlock", "NULL", PANICS, 0, "gort_rwmutex_rlock: nil rwmutex", rw_rlock_null},
    {"gort_rwmutex_runlock", "NULL", PANICS, 0, "gort_rwmutex_runlock: nil rwmutex", rw_runlock_null},
    {"gort_rwmutex_runlock", "unlocked", FATAL, 0, "fatal error: sync: RUnlock of unlocked RWMutex", rw_runlock_unlocked},
    {"gort_rwmutex_lock", "NULL", PANICS, 0, "gort_rwmutex_lock: nil rwmutex", rw_lock_null},
    {"gort_rwmutex_unlock", "NULL", PANICS, 0, "gort_rwmutex_unlock: nil rwmutex", rw_unlock_null},
    {"gort_rwmutex_unlock", "unlocked", FATAL, 0, "fatal error: sync: Unlock of unlocked RWMutex", rw_unlock_unlocked},
    {"gort_rwmutex_unlock", "read-locked", FATAL, 0, "fatal error: sync: Unlock of unlocked RWMutex", rw_unlock_read_locked},
    {"gort_rwmutex_trylock", "NULL", RET, E(GORT_EINVAL), NULL, rw_trylock_null},
    {"gort_rwmutex_tryrlock", "NULL", RET, E(GORT_EINVAL), NULL, rw_tryrlock_null},
    {"gort_cond_wait", "NULL cond", PANICS, 0, "gort_cond_wait: nil cond", cond_wait_null},
    {"gort_cond_wait", "NULL mutex", PANICS, 0, "gort_cond_wait: nil mutex", cond_wait_null_mutex},
    {"gort_cond_wait", "mutex not locked", FATAL, 0, "fatal error: sync: unlock of unlocked mutex", cond_wait_unlocked},
    {"gort_cond_signal", "NULL", PANICS, 0, "gort_cond_signal: nil cond", cond_signal_null},
    {"gort_cond_broadcast", "NULL", PANICS, 0, "gort_cond_broadcast: nil cond", cond_broadcast_null},
    {"gort_waitgroup_add", "NULL", PANICS, 0, "gort_waitgroup_add: nil waitgroup", wg_add_null},
    {"gort_waitgroup_add", "below zero", PANICS, 0, "sync: negative WaitGroup counter", wg_add_negative},
    {"gort_waitgroup_add", "INT64_MAX", PANICS, 0, "sync: WaitGroup delta out of range", wg_add_huge},
    {"gort_waitgroup_add", "INT64_MIN", PANICS, 0, "sync: WaitGroup delta out of range", wg_add_min},
    {"gort_waitgroup_done", "NULL", PANICS, 0, "gort_waitgroup_done: nil waitgroup", wg_done_null},
    {"gort_waitgroup_done", "counter 0", PANICS, 0, "sync: negative WaitGroup counter", wg_done_zero},
    {"gort_waitgroup_wait", "NULL", PANICS, 0, "gort_waitgroup_wait: nil waitgroup", wg_wait_null},
    {"gort_waitgroup_go", "NULL wg", RET, E(GORT_EINVAL), NULL, wg_go_null},
    {"gort_waitgroup_go", "NULL fn: counter untouched", RET, E(GORT_EINVAL), NULL, wg_go_null_fn},
    {"gort_once_do", "NULL once", PANICS, 0, "gort_once_do: nil once", once_null},
    {"gort_once_do", "NULL fn", PANICS, 0, "gort_once_do: nil function", once_null_fn},
    {"gort_sema_init", "NULL", PANICS, 0, "gort_sema_init: nil sema", sema_init_null},
    {"gort_sema_init", "negative count", PANICS, 0, "gort_sema_init: negative count", sema_init_negative},
    {"gort_sema_acquire", "NULL", RET, E(GORT_EINVAL), NULL, sema_acquire_null},
    {"gort_sema_acquire", "n 0", RET, E(GORT_EINVAL), NULL, sema_acquire_zero},
    {"gort_sema_acquire", "n INT64_MIN", RET, E(GORT_EINVAL), NULL, sema_acquire_negative},
    {"gort_sema_acquire", "INT64_MIN, none free", RET, E(GORT_EAGAIN), NULL, sema_acquire_past},
    {"gort_sema_acquire", "INT64_MAX, free", RET, 0, NULL, sema_acquire_far},
    {"gort_sema_release", "NULL", PANICS, 0, "gort_sema_release: nil sema", sema_release_null},
    {"gort_sema_release", "n 0", PANICS, 0, "gort_sema_release", sema_release_zero},
    {"gort_sema_release", "n -1", PANICS, 0, "gort_sema_release", sema_release_negative},

    {"gort_now", "no arguments", RET, 1, NULL, now_ok},
    {"gort_deadline_in", "INT64_MIN: a past deadline", RET, 1, NULL, deadline_in_min},
    {"gort_deadline_in", "-now-1: not GORT_FOREVER", RET, 1, NULL, deadline_in_before_zero},
    {"gort_deadline_in", "INT64_MAX: saturates", RET, 1, NULL, deadline_in_max},
    {"gort_sleep", "INT64_MIN: returns", RET, 0, NULL, sleep_min},
    {"gort_sleep", "INT64_MAX: sleeps", RET, 0, NULL, sleep_max},
    {"gort_sleep_until", "INT64_MIN: returns", RET, 0, NULL, sleep_until_min},
    {"gort_sleep_until", "-2: returns", RET, 0, NULL, sleep_until_minus2},
    {"gort_after", "INT64_MIN: fires at once", RET, 1, NULL, after_min},
    {"gort_after", "INT64_MAX: does not fire", RET, E(GORT_ETIMEDOUT), NULL, after_max},
    {"gort_timer_new", "INT64_MAX: pending", RET, 1, NULL, timer_new_max},
    {"gort_after_func", "NULL fn", ERRNO, EINVAL, NULL, after_func_null},
    {"gort_after_func", "INT64_MAX: pending", RET, 1, NULL, after_func_max},
    {"gort_timer_chan", "NULL", ERRNO, EINVAL, NULL, timer_chan_null},
    {"gort_timer_stop", "NULL", RET, E(GORT_EINVAL), NULL, timer_stop_null},
    {"gort_timer_reset", "NULL", RET, E(GORT_EINVAL), NULL, timer_reset_null},
    {"gort_timer_reset", "INT64_MAX", RET, 1, NULL, timer_reset_max},
    {"gort_timer_reset", "INT64_MIN: fires at once", RET, 1, NULL, timer_reset_min},
    {"gort_timer_free", "NULL: ignored", RET, 0, NULL, timer_free_null},
    {"gort_ticker_new", "period 0", ERRNO, EINVAL, NULL, ticker_new_zero},
    {"gort_ticker_new", "period INT64_MIN", ERRNO, EINVAL, NULL, ticker_new_min},
    {"gort_ticker_new", "period INT64_MAX: no tick", RET, E(GORT_ETIMEDOUT), NULL, ticker_new_max},
    {"gort_ticker_chan", "NULL", ERRNO, EINVAL, NULL, ticker_chan_null},
    {"gort_ticker_reset", "NULL", PANICS, 0, "gort_ticker_reset: nil ticker", ticker_reset_null},
    {"gort_ticker_stop", "NULL", PANICS, 0, "gort_ticker_stop: nil ticker", ticker_stop_null},
    {"gort_ticker_reset", "period 0", PANICS, 0, "non-positive interval for Ticker.Reset", ticker_reset_zero},
    {"gort_ticker_reset", "period INT64_MIN", PANICS, 0, "non-positive interval for Ticker.Reset", ticker_reset_min},
    {"gort_ticker_free", "NULL: ignored", RET, 0, NULL, ticker_free_null},

    {"gort_fd_wait", "fd -1", RET, E(GORT_EBADF), NULL, fd_wait_neg},
    {"gort_fd_wait", "fd not open", RET, E(GORT_EBADF), NULL, fd_wait_not_open},
    {"gort_fd_wait", "fd INT_MAX", RET, E(GORT_EBADF), NULL, fd_wait_int_max},
    {"gort_fd_wait", "events 0", RET, E(GORT_EINVAL), NULL, fd_wait_no_events},
    {"gort_fd_wait", "events 4", RET, E(GORT_EINVAL), NULL, fd_wait_bad_events},
    {"gort_fd_wait", "events -1", RET, E(GORT_EINVAL), NULL, fd_wait_neg_events},
    {"gort_fd_wait", "INT64_MIN, not ready", RET, E(GORT_EAGAIN), NULL, fd_wait_past},
    {"gort_read", "fd -1", RET, E(GORT_EBADF), NULL, read_neg},
    {"gort_read", "fd not open", RET, E(GORT_EBADF), NULL, read_not_open},
    {"gort_read", "NULL buf", RET, E(GORT_EINVAL), NULL, read_null_buf},
    {"gort_read", "n SIZE_MAX", RET, E(GORT_EINVAL), NULL, read_huge},
    {"gort_read", "INT64_MIN, empty", RET, E(GORT_EAGAIN), NULL, read_past},
    {"gort_write", "fd -1", RET, E(GORT_EBADF), NULL, write_neg},
    {"gort_write", "NULL buf", RET, E(GORT_EINVAL), NULL, write_null_buf},
    {"gort_write", "n SIZE_MAX", RET, E(GORT_EINVAL), NULL, write_huge},
    {"gort_close", "fd -1", RET, E(GORT_EBADF), NULL, close_neg},
    {"gort_close", "fd not open", RET, E(GORT_EBADF), NULL, close_not_open},
    {"gort_close", "fd INT_MAX", RET, E(GORT_EBADF), NULL, close_int_max},
    {"gort_tcp_listen", "NULL", RET, E(GORT_EINVAL), NULL, tcp_listen_null},
    {"gort_tcp_listen", "\"nonsense\"", RET, E(GORT_EINVAL), NULL, tcp_listen_nonsense},
    {"gort_tcp_listen", "port 99999", RET, E(GORT_EINVAL), NULL, tcp_listen_bad_port},
    {"gort_tcp_listen", "port -1", RET, E(GORT_EINVAL), NULL, tcp_listen_neg_port},
    {"gort_tcp_dial", "NULL", RET, E(GORT_EINVAL), NULL, tcp_dial_null},
    {"gort_tcp_dial", "\"nonsense\"", RET, E(GORT_EINVAL), NULL, tcp_dial_nonsense},
    {"gort_accept", "fd -1", RET, E(GORT_EBADF), NULL, accept_neg},
    {"gort_accept", "fd not open, INT64_MAX", RET, E(GORT_EBADF), NULL, accept_not_open},
    {"gort_local_port", "fd -1", RET, E(GORT_EBADF), NULL, local_port_neg},
    {"gort_udp_bind", "NULL", RET, E(GORT_EINVAL), NULL, udp_bind_null},
    {"gort_udp_bind", "\"nonsense\"", RET, E(GORT_EINVAL), NULL, udp_bind_nonsense},
    {"gort_udp_dial", "NULL", RET, E(GORT_EINVAL), NULL, udp_dial_null},
    {"gort_udp_dial", "no port", RET, E(GORT_EINVAL), NULL, udp_dial_nonsense},
    {"gort_recvfrom", "fd -1", RET, E(GORT_EBADF), NULL, recvfrom_neg},
    {"gort_recvfrom", "NULL buf", RET, E(GORT_EINVAL), NULL, recvfrom_null_buf},
    {"gort_recvfrom", "n SIZE_MAX", RET, E(GORT_EINVAL), NULL, recvfrom_huge},
    {"gort_recvfrom", "INT64_MIN, nothing there", RET, E(GORT_EAGAIN), NULL, recvfrom_past},
    {"gort_sendto", "fd -1", RET, E(GORT_EBADF), NULL, sendto_neg},
    {"gort_sendto", "NULL buf", RET, E(GORT_EINVAL), NULL, sendto_null_buf},
    {"gort_sendto", "n SIZE_MAX", RET, E(GORT_EINVAL), NULL, sendto_huge},
    {"gort_sendto", "tolen 0", RET, E(GORT_EINVAL), NULL, sendto_tolen_zero},
    {"gort_sendto", "tolen UINT32_MAX", RET, E(GORT_EINVAL), NULL, sendto_tolen_huge},
    {"gort_sockaddr_parse", "NULL addr", RET, E(GORT_EINVAL), NULL, sockaddr_parse_null},
    {"gort_sockaddr_parse", "NULL out", RET, E(GORT_EINVAL), NULL, sockaddr_parse_null_out},
    {"gort_sockaddr_parse", "a host name", RET, E(GORT_EINVAL), NULL, sockaddr_parse_name},
    {"gort_sockaddr_parse", "outlen 2", RET, E(GORT_EINVAL), NULL, sockaddr_parse_short},
    {"gort_unix_listen", "NULL", RET, E(GORT_EINVAL), NULL, unix_listen_null},
    {"gort_unix_listen", "\"\"", RET, E(GORT_EINVAL), NULL, unix_listen_empty},
    {"gort_unix_listen", "path of 299 bytes", RET, E(GORT_EINVAL), NULL, unix_listen_long},
    {"gort_unix_dial", "NULL", RET, E(GORT_EINVAL), NULL, unix_dial_null},
    {"gort_unix_dial", "path of 299 bytes", RET, E(GORT_EINVAL), NULL, unix_dial_long},

    {"gort_panic", "NULL message", PANICS, 0, "panic called with nil argument", panic_null},
    {"gort_protect", "NULL fn", RET, E(GORT_EINVAL), NULL, protect_null},
    {"gort_defer", "NULL fn", PANICS, 0, "gort_defer: nil function", defer_null},

    {"gort_pool_new", "NULL new_fn and free_fn: fine", RET, 1, NULL, pool_new_nulls},
    {"gort_pool_get", "NULL", ERRNO, EINVAL, NULL, pool_get_null},
    {"gort_pool_put", "NULL pool", PANICS, 0, "gort_pool_put: nil pool", pool_put_null},
    {"gort_pool_put", "NULL obj: ignored", RET, 1, NULL, pool_put_null_obj},
    {"gort_pool_free", "NULL: ignored", RET, 0, NULL, pool_free_null},

    {"gort_type_new", "NULL name", ERRNO, EINVAL, NULL, type_null_name},
    {"gort_type_new", "NULL offsets, n 1", ERRNO, EINVAL, NULL, type_null_offsets},
    {"gort_type_new", "offset not pointer-aligned", ERRNO, EINVAL, NULL, type_unaligned},
    {"gort_type_new", "offset past the end", ERRNO, EINVAL, NULL, type_past_end},
    {"gort_type_new", "pointer crossing the end", ERRNO, EINVAL, NULL, type_overlap_end},
    {"gort_type_new", "repeated offset: fine", RET, 1, NULL, type_duplicate},
    {"gort_type_new", "size SIZE_MAX", ERRNO, EINVAL, NULL, type_huge},
    {"gort_new", "NULL type", ERRNO, EINVAL, NULL, new_null},
    {"gort_new_array", "NULL type", ERRNO, EINVAL, NULL, new_array_null},
    {"gort_new_array", "size overflows", ERRNO, EINVAL, NULL, new_array_overflow},
    {"gort_alloc_noscan", "SIZE_MAX", ERRNO, EINVAL, NULL, alloc_noscan_huge},
    {"gort_root_add", "NULL", RET, E(GORT_EINVAL), NULL, root_add_null},
    {"gort_root_add", "size 0", RET, E(GORT_EINVAL), NULL, root_add_zero},
    {"gort_root_add", "wraps around", RET, E(GORT_EINVAL), NULL, root_add_wraps},
    {"gort_root_add", "overlaps a range", RET, E(GORT_EINVAL), NULL, root_add_overlap},
    {"gort_root_remove", "NULL", RET, E(GORT_EINVAL), NULL, root_remove_null},
    {"gort_root_remove", "starts no range", RET, E(GORT_EINVAL), NULL, root_remove_unknown},
    {"gort_store", "NULL slot", PANICS, 0, "gort_store: nil slot", store_null},
    {"gort_store_range", "NULL dst", PANICS, 0, "gort_store_range: nil pointer", store_range_null},
    {"gort_store_range", "n 0, NULLs: nothing", RET, 0, NULL, store_range_zero},
    {"gort_cas_ptr", "NULL slot", RET, E(GORT_EINVAL), NULL, cas_null},
    {"gort_cas_ptr", "misaligned slot", RET, E(GORT_EINVAL), NULL, cas_unaligned},
    {"gort_keep_alive", "NULL: nothing", RET, 0, NULL, keep_alive_null},
    {"gort_gc", "plain call", RET, 0, NULL, gc_plain},
    {"gort_set_gc_percent", "INT_MIN: off", RET, 0, NULL, gc_percent_min},
    {"gort_set_memory_limit", "INT64_MIN: query", RET, 1, NULL, memlimit_query},
    {"gort_free_os_memory", "plain call", RET, 0, NULL, free_os_plain},
    {"gort_set_finalizer", "NULL obj", RET, E(GORT_EINVAL), NULL, finalizer_null_obj},
    {"gort_set_finalizer", "not a heap object", RET, E(GORT_EINVAL), NULL, finalizer_not_heap},
    {"gort_set_finalizer", "inside an object", RET, E(GORT_EINVAL), NULL, finalizer_interior},
    {"gort_set_finalizer", "set twice", FATAL, 0, "fatal error: runtime.SetFinalizer: finalizer already set", finalizer_twice},
    {"gort_add_cleanup", "NULL fn", RET, E(GORT_EINVAL), NULL, cleanup_null_fn},
    {"gort_add_cleanup", "not a heap object", RET, E(GORT_EINVAL), NULL, cleanup_not_heap},
    {"gort_add_cleanup", "arg == obj", PANICS, 0, "runtime.AddCleanup: ptr is equal to arg", cleanup_arg_is_obj},
    {"gort_read_memstats", "NULL", PANICS, 0, "gort_read_memstats: nil memstats", memstats_null},
    {"gort_read_memstats", "size 0", PANICS, 0, "gort_read_memstats: size not set", memstats_no_size},
    {"gort_read_memstats", "shorter struct", RET, 1, NULL, memstats_short},
    {"gort_dump_goroutines", "fd -1", RET, E(GORT_EBADF), NULL, dump_bad_fd},
    {"gort_dump_goroutines", "fd not open", RET, E(GORT_EBADF), NULL, dump_closed_fd},
    {"gort_signal_notify", "NULL channel", RET, E(GORT_EINVAL), NULL, notify_null},
    {"gort_signal_notify", "SIGKILL", RET, E(GORT_EINVAL), NULL, notify_sigkill},
    {"gort_signal_notify", "signal 65", RET, E(GORT_EINVAL), NULL, notify_out_of_range},
    {"gort_signal_notify", "channel of 1-byte elements", RET, E(GORT_EINVAL), NULL, notify_not_int},
    {"gort_signal_stop", "NULL", RET, E(GORT_EINVAL), NULL, signal_stop_null},
    {"gort_profile_write", "NULL name", RET, E(GORT_EINVAL), NULL, profile_null},
    {"gort_profile_write", "unknown name", RET, E(GORT_EINVAL), NULL, profile_unknown},
    {"gort_profile_write", "fd -1", RET, E(GORT_EBADF), NULL, profile_bad_fd},
    {"gort_set_block_profile_rate", "negative: off, as 0", RET, 0, NULL, block_rate_negative},
    {"gort_set_mutex_profile_fraction", "negative: only reads", RET, 0, NULL, mutex_fraction_negative},
    {"gort_trace_start", "fd -1", RET, E(GORT_EBADF), NULL, trace_bad_fd},
    {"gort_trace_stop", "no trace running", RET, E(GORT_EINVAL), NULL, trace_stop_none},
    {"gort_stack", "NULL buffer, len 100: nothing written", RET, 0, NULL, stack_null_buf},
    {"gort_stack", "len 0", RET, 0, NULL, stack_zero_len},
    {"gort_caller", "skip -1: not found", RET, 0, NULL, caller_negative},
    {"gort_caller", "skip INT_MAX: not found", RET, 0, NULL, caller_too_deep},
    {"gort_cpu_profile_start", "fd -1", RET, E(GORT_EBADF), NULL, cpuprof_bad_fd},
    {"gort_cpu_profile_start", "fd not open", RET, E(GORT_EBADF), NULL, cpuprof_closed_fd},
    {"gort_cpu_profile_stop", "no profile running", RET, E(GORT_EINVAL), NULL, cpuprof_stop_none},
    {"gort_syncmap_new", "(no bad input)", RET, 2, NULL, syncmap_null_results},
    {"gort_syncmap_free", "NULL: ignored", RET, 0, NULL, syncmap_free_null},
    {"gort_syncmap_free", "used after free", FATAL, 0, "map used after gort_syncmap_free", syncmap_after_free},
    {"gort_syncmap_load", "NULL", RET, E(GORT_EINVAL), NULL, syncmap_load_null},
    {"gort_syncmap_store", "NULL", PANICS, 0, "gort_syncmap_store: nil map", syncmap_store_null},
    {"gort_syncmap_load_or_store", "NULL", RET, E(GORT_EINVAL), NULL, syncmap_los_null},
    {"gort_syncmap_load_and_delete", "NULL", RET, E(GORT_EINVAL), NULL, syncmap_lad_null},
    {"gort_syncmap_delete", "NULL", PANICS, 0, "gort_syncmap_delete: nil map", syncmap_delete_null},
    {"gort_syncmap_swap", "NULL", RET, E(GORT_EINVAL), NULL, syncmap_swap_null},
    {"gort_syncmap_compare_and_swap", "NULL", RET, E(GORT_EINVAL), NULL, syncmap_cas_null},
    {"gort_syncmap_compare_and_delete", "NULL", RET, E(GORT_EINVAL), NULL, syncmap_cad_null},
    {"gort_syncmap_range", "NULL map", PANICS, 0, "gort_syncmap_range: nil map", syncmap_range_null},
    {"gort_syncmap_range", "NULL function", PANICS, 0, "gort_syncmap_range: nil function", syncmap_range_null_fn},
    {"gort_syncmap_clear", "NULL", PANICS, 0, "gort_syncmap_clear: nil map", syncmap_clear_null},
};
enum { NROWS = sizeof rows / sizeof rows[0] };

/* --- running the rows ----------------------------------------------------------------- */
/* Every in-process row runs under gort_protect, so that a row that panics where it should
   not is reported as a failure and the table goes on. */
struct outcome {
    const struct row *row;
    long long value;
    int err;
};

static void run_call(void *arg) {
    struct outcome *o = arg;
    errno = 0;
    o->value = o->row->call();
    o->err = errno;
}

static int failures;
#define FAIL(r, ...)                                                          \
    do {                                                                      \
        fprintf(stderr, "FAIL %s (%s): ", (r)->func, (r)->input);             \
        fprintf(stderr, __VA_ARGS__);                                         \
        fputc('\n', stderr);                                                  \
        failures++;                                                           \
    } while (0)

static void run_in_process(const struct row *r) {
    if (r->kind == FATAL) return; /* in a child: see main */
    if (getenv("BAD_ARGS_VERBOSE")) fprintf(stderr, "row %s (%s)\n", r->func, r->input);
    struct outcome o = {.row = r};
    const char *msg = NULL;
    int panicked = gort_protect(run_call, &o, &msg);
    if (!msg) msg = "(null)";
    switch (r->kind) {
    case RET:
    case FIRST:
        if (panicked) FAIL(r, "panicked with \"%s\", want a return of %lld", msg, r->want);
        else if (o.value != r->want) FAIL(r, "returned %lld, want %lld", o.value, r->want);
        break;
    case ERRNO:
        if (panicked) FAIL(r, "panicked with \"%s\", want NULL with errno %lld", msg, r->want);
        else if (o.value != 0 || o.err != r->want)
            FAIL(r, "returned %s with errno %d, want NULL with errno %lld", o.value ? "non-NULL" : "NULL", o.err,
                 r->want);
        break;
    case PANICS:
        if (!panicked) FAIL(r, "did not panic (returned %lld)", o.value);
        else if (strstr(msg, r->msg) == NULL) FAIL(r, "panicked with \"%s\", want \"%s\"", msg, r->msg);
        break;
    case FATAL:
        break;
    }
}

static int child_goroutine(void *arg);

/* Runs row `r` in a child process; returns its exit status, its stderr in `out`. Forked
   while the runtime has not started here, so the child starts its own, in a process with
   one thread. */
static int run_child(const struct row *r, char *out, size_t outcap) {
    int err[2];
    CHECK_EQ(pipe2(err, O_CLOEXEC), 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(err[1], 2);
        if (strcmp(r->func, "gort_goexit") == 0) {
            r->call(); /* on this plain thread, not in a goroutine */
            _exit(0);
        }
        _exit(gort_main(child_goroutine, (void *)r));
    }
    close(err[1]);
    size_t len = 0;
    for (ssize_t k; len < outcap - 1 && (k = read(err[0], out + len, outcap - 1 - len)) != 0;) {
        if (k < 0) {
            CHECK(errno == EINTR);
            continue;
        }
        len += (size_t)k;
    }
    out[len] = 0;
    close(err[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0) CHECK(errno == EINTR);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int child_goroutine(void *arg) {
    const struct row *r = arg;
    r->call();
    return 0;
}

static void make_fixtures(void) {
    ch_int = gort_chan_make(sizeof(int), 1);
    ch_closed = gort_chan_make(sizeof(int), 0);
    CHECK(ch_int && ch_closed);
    CHECK_EQ(gort_chan_close(ch_closed), 0);
    timer_far = gort_timer_new(HOUR);
    ticker_far = gort_ticker_new(HOUR);
    CHECK(timer_far && ticker_far);
    int p[2];
    CHECK_EQ(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
    pipe_r = p[0];
    pipe_w = p[1];
    udp = gort_udp_bind("127.0.0.1:0");
    CHECK(udp >= 0);
    memset(long_path, 'a', sizeof long_path - 1);
    long_path[0] = '/';
}

static void free_fixtures(void) {
    gort_chan_release(ch_int);
    gort_chan_release(ch_closed);
    gort_timer_free(timer_far);
    gort_ticker_free(ticker_far);
    CHECK_EQ(gort_close(pipe_r), 0);
    CHECK_EQ(gort_close(pipe_w), 0);
    CHECK_EQ(gort_close(udp), 0);
}

static int table_goroutine(void *arg) {
    (void)arg;
    make_fixtures();
    for (int i = 0; i < NROWS; i++)
        if (rows[i].kind != FIRST) run_in_process(&rows[i]);
    free_fixtures();
    return 0;
}

/* Every function declared in gort.h has at least one row, and every row names one. */
static char declared[200][64];
static int ndeclared;

static int is_ident(char c) { return c == '_' || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

static void check_every_function_has_rows(void) {
    char path[4096];
    snprintf(path, sizeof path, "%s", __FILE__);
    char *slash = strrchr(path, '/');
    CHECK(slash != NULL);
    snprintf(slash, sizeof path - (size_t)(slash - path), "/../include/gort.h");
    FILE *h = fopen(path, "r");
    if (h == NULL) fprintf(stderr, "cannot open %s\n", path);
    CHECK(h != NULL);
    char line[1024];
    while (fgets(line, sizeof line, h)) {
        /* Declarations start in column 0; comments, macros and struct fields do not. */
        if (!(line[0] >= 'a' && line[0] <= 'z') && line[0] != '_') continue;
        /* The header's own inline helpers (gort_store's fast path) are not the API. */
        if (strncmp(line, "static ", 7) == 0) continue;
        /* The declared name: the `gort_*` word followed by "(". */
        for (char *p = strstr(line, "gort_"); p; p = strstr(p + 1, "gort_")) {
            if (p > line && is_ident(p[-1])) continue;
            size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyz0123456789_");
            if (p[len] != '(') continue;
            CHECK(len < sizeof declared[0] && ndeclared < (int)(sizeof declared / sizeof declared[0]));
            memcpy(declared[ndeclared], p, len);
            declared[ndeclared++][len] = 0;
            break;
        }
    }
    fclose(h);
    CHECK(ndeclared >= 70); /* the parse worked: gort.h declares dozens of functions */
    for (int d = 0; d < ndeclared; d++) {
        int found = 0;
        for (int i = 0; i < NROWS && !found; i++) found = strcmp(rows[i].func, declared[d]) == 0;
        if (!found) {
            fprintf(stderr, "FAIL: %s is declared in gort.h but has no row in this table\n", declared[d]);
            failures++;
        }
    }
    for (int i = 0; i < NROWS; i++) {
        int found = 0;
        for (int d = 0; d < ndeclared && !found; d++) found = strcmp(rows[i].func, declared[d]) == 0;
        if (!found) {
            fprintf(stderr, "FAIL: row %d names %s, which gort.h does not declare\n", i, rows[i].func);
            failures++;
        }
    }
    printf("%d functions in gort.h\n", ndeclared);
}

int main(void) {
    check_every_function_has_rows();
    /* Fatal errors first, in children forked before the runtime starts here. */
    int fatal_rows = 0;
    for (int i = 0; i < NROWS; i++) {
        const struct row *r = &rows[i];
        if (r->kind != FATAL) continue;
        fatal_rows++;
        char err[8192];
        int status = run_child(r, err, sizeof err);
        if (status != 2) FAIL(r, "exit status %d, want 2; stderr:\n%s", status, err);
        else if (strstr(err, r->msg) == NULL) FAIL(r, "stderr lacks \"%s\":\n%s", r->msg, err);
    }
    for (int i = 0; i < NROWS; i++)
        if (rows[i].kind == FIRST) run_in_process(&rows[i]);
    CHECK_EQ(gort_main(table_goroutine, NULL), 0);
    printf("%d rows, %d of them fatal errors in child processes; %d failures\n", (int)NROWS, fatal_rows,
           failures);
    return failures == 0 ? 0 : 1;
}
