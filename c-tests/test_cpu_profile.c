// gort_cpu_profile_start/stop through the header: argument and state errors (EBADF,
// EBUSY, EINVAL), the SIGPROF action (SA_RESTART, SA_ONSTACK), a foreign thread blocked
// in read() that gets SIGPROFs from elsewhere and still completes its read, profiling
// across gort_gomaxprocs changes and collections, and two CPU-bound goroutines in known
// functions (spin_heavy does twice the work of spin_light). With argv[1] the profile goes
// to that file, and c-tests/tools/check_cpuprof.sh reads it with `go tool pprof` to check
// the 2:1 proportion and the goroutine labels; alone, the program checks the profile is
// a non-empty protobuf.
// ENV: GORT_MAXPROCS=2
// ASAN: yes
// VALGRIND: yes
// CONCURRENT: yes
// TIMEOUT: 120
// Not under TSan: it collects while goroutines spin in pure C, and TSan holds the GC's
// stop signal back from them (docs/debugging.md, TSan limits): one CI run waited 360 s.
#include "check.h"
#include "gort.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const char *out_path;
static gort_waitgroup done = GORT_WAITGROUP_INIT;
static atomic_ulong sink;

/* Work units: spin_heavy does HEAVY of them, spin_light LIGHT = HEAVY / 2. */
#define UNIT 4000000UL
#define HEAVY 120
#define LIGHT 60

/* The loops are in the two functions themselves, not in a helper they call: a leaf
 * function built without -mno-omit-leaf-frame-pointer has no frame, so a sample there
 * would skip its caller (see docs/debugging.md). */
#define LCG(x) ((x) * 6364136223846793005UL + 1442695040888963407UL)

__attribute__((noinline)) static void spin_heavy(void *arg) {
    (void)arg;
    unsigned long x = 1;
    for (int i = 0; i < HEAVY; i++) {
        for (unsigned long j = 0; j < UNIT; j++)
            x = LCG(x);
        atomic_fetch_add_explicit(&sink, x, memory_order_relaxed);
        if (i % 8 == 0)
            gort_gosched();
    }
    gort_waitgroup_done(&done);
}

__attribute__((noinline)) static void spin_light(void *arg) {
    (void)arg;
    unsigned long x = 2;
    for (int i = 0; i < LIGHT; i++) {
        for (unsigned long j = 0; j < UNIT; j++)
            x = LCG(x);
        atomic_fetch_add_explicit(&sink, x, memory_order_relaxed);
        if (i % 8 == 0)
            gort_gosched();
    }
    gort_waitgroup_done(&done);
}

/* A function that calls nothing has no frame record at -O1 even with
 * -fno-omit-frame-pointer: a sample in it must still name its caller (the profiler
 * restores it from the return address, see fix_leaf in src/debug/cpuprof.rs). */
#define LEAF_CALLS 300000UL

__attribute__((noinline)) static unsigned long leaf_mix(unsigned long x) {
    for (int j = 0; j < 1000; j++)
        x = LCG(x);
    return x;
}

__attribute__((noinline)) static void leaf_caller(void *arg) {
    (void)arg;
    unsigned long x = 5;
    for (unsigned long i = 0; i < LEAF_CALLS; i++)
        x = leaf_mix(x);
    atomic_fetch_add_explicit(&sink, x, memory_order_relaxed);
    gort_waitgroup_done(&done);
}

/* Allocation churn so collections run during the profile. */
__attribute__((noinline)) static void churn(void *arg) {
    (void)arg;
    for (int i = 0; i < 2000; i++) {
        void *p = gort_alloc_noscan(256);
        CHECK(p != NULL);
        if (i % 500 == 0)
            gort_gc();
    }
    gort_waitgroup_done(&done);
}

/* The program's own SIGPROF handler, installed before gort's: it still gets the SIGPROFs
 * that do not come from gort's timers. */
static atomic_int own_sigprofs;
static void own_handler(int sig) {
    (void)sig;
    atomic_fetch_add(&own_sigprofs, 1);
}

static void check_errors(void) {
    CHECK_EQ(gort_cpu_profile_stop(), GORT_EINVAL);
    struct sigaction own;
    memset(&own, 0, sizeof own);
    own.sa_handler = own_handler;
    sigemptyset(&own.sa_mask);
    CHECK_EQ(sigaction(SIGPROF, &own, NULL), 0);
    CHECK_EQ(gort_cpu_profile_start(-1, 100), GORT_EBADF);
    CHECK_EQ(gort_cpu_profile_start(987654, 100), GORT_EBADF);
    int fd = open("/dev/null", O_WRONLY);
    CHECK(fd >= 0);
    CHECK_EQ(gort_cpu_profile_start(fd, 0), 0);
    CHECK_EQ(gort_cpu_profile_start(fd, 100), GORT_EBUSY);
    struct sigaction sa;
    CHECK_EQ(sigaction(SIGPROF, NULL, &sa), 0);
    CHECK(sa.sa_flags & SA_RESTART);
    CHECK(sa.sa_flags & SA_ONSTACK);
    CHECK(sa.sa_flags & SA_SIGINFO);
    CHECK(sa.sa_handler != own_handler);
    raise(SIGPROF); /* not from a timer: chained to own_handler */
    CHECK_EQ(atomic_load(&own_sigprofs), 1);
    CHECK_EQ(gort_cpu_profile_stop(), 0);
    CHECK_EQ(gort_cpu_profile_stop(), GORT_EINVAL);
    /* A huge rate is clamped, not refused. */
    CHECK_EQ(gort_cpu_profile_start(fd, 2000000000), 0);
    CHECK_EQ(gort_cpu_profile_stop(), 0);
    close(fd);
}

/* A foreign thread blocked in read(): SIGPROFs that are not from gort's timers go to the
 * program's previous handler, and SA_RESTART resumes the read. */
static int pipe_fds[2];
static atomic_int reader_result = -100;
static atomic_int reader_errno;
static atomic_int reader_in_read;

static void *reader(void *arg) {
    (void)arg;
    gort_thread_register(); /* profiled like any registered thread */
    char c = 0;
    reader_in_read = 1;
    ssize_t n = read(pipe_fds[0], &c, 1);
    reader_errno = errno;
    reader_result = n == 1 && c == 'x' ? 1 : (int)n;
    gort_thread_unregister();
    return NULL;
}

static void check_read_not_disturbed(void) {
    CHECK_EQ(pipe(pipe_fds), 0);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, reader, NULL), 0);
    while (!reader_in_read)
        gort_sleep(1000000);
    gort_sleep(20000000); /* inside read() by now */
    for (int i = 0; i < 50; i++) {
        CHECK_EQ(pthread_kill(t, SIGPROF), 0);
        gort_sleep(1000000);
    }
    CHECK_EQ(reader_result, -100); /* still reading */
    CHECK_EQ(write(pipe_fds[1], "x", 1), 1);
    gort_blocking_enter();
    pthread_join(t, NULL);
    gort_blocking_exit();
    if (reader_result != 1)
        fprintf(stderr, "read returned %d errno %d\n", atomic_load(&reader_result), atomic_load(&reader_errno));
    CHECK_EQ(reader_result, 1);
    /* Each delivered SIGPROF was chained (pending ones of the same signal merge, and
     * sanitizers and valgrind defer delivery: at least one, at most all 50). */
    int chained = atomic_load(&own_sigprofs) - 1;
    CHECK(chained >= 1 && chained <= 50);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
}

static int main_goroutine(void *arg) {
    (void)arg;
    check_errors();

    int fd;
    char tmpl[] = "/tmp/gort-cpuprof-XXXXXX";
    if (out_path != NULL) {
        fd = open(out_path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    } else {
        fd = mkstemp(tmpl);
        unlink(tmpl);
    }
    CHECK(fd >= 0);
    CHECK_EQ(gort_cpu_profile_start(fd, 250), 0);
    check_read_not_disturbed();

    /* Change the number of Ps while profiling, with a collection in between. */
    gort_waitgroup_add(&done, 1);
    CHECK_EQ(gort_go(churn, NULL), 0);
    gort_gomaxprocs(1);
    gort_gc();
    gort_gomaxprocs(2);
    gort_waitgroup_wait(&done);

    /* The measured part: main waits (no CPU), two goroutines spin on the two Ps. */
    gort_waitgroup_add(&done, 2);
    CHECK_EQ(gort_go(spin_heavy, NULL), 0);
    CHECK_EQ(gort_go(spin_light, NULL), 0);
    gort_waitgroup_wait(&done);

    CHECK_EQ(gort_cpu_profile_stop(), 0);
    struct stat st;
    CHECK_EQ(fstat(fd, &st), 0);
    CHECK(st.st_size > 100);
    /* A protobuf Profile starts with field 1 (sample_type), length-delimited: 0x0a. */
    unsigned char first = 0;
    CHECK_EQ(pread(fd, &first, 1, 0), 1);
    CHECK_EQ(first, 0x0a);
    close(fd);

    /* A second profile after the first (the state is reusable): a frameless leaf. With
     * a path, it goes to PATH.leaf for check_cpuprof.sh. */
    int fd2;
    if (out_path != NULL) {
        char leaf_path[4096];
        snprintf(leaf_path, sizeof leaf_path, "%s.leaf", out_path);
        fd2 = open(leaf_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    } else {
        fd2 = open("/dev/null", O_WRONLY);
    }
    CHECK(fd2 >= 0);
    CHECK_EQ(gort_cpu_profile_start(fd2, 500), 0);
    gort_waitgroup_add(&done, 1);
    CHECK_EQ(gort_go(leaf_caller, NULL), 0);
    gort_waitgroup_wait(&done);
    CHECK_EQ(gort_cpu_profile_stop(), 0);
    close(fd2);
    return 0;
}

int main(int argc, char **argv) {
    out_path = argc > 1 ? argv[1] : NULL;
    return gort_main(main_goroutine, NULL);
}
