// Idle stacks go back to the OS: after a burst of a million goroutines that are all alive
// at once ends, resident memory falls back to within 64 MiB of what it was before the
// burst (plus the goroutine descriptors, which are kept for reuse: at most 256 bytes per
// goroutine of the peak), with no call from the program: the scavenger does it in the
// background. A second burst reuses the descriptors, so after it resident memory falls
// back to within 64 MiB of the level after the first. The polls allow 60 s each; the
// scavenger needs one to two rounds of half a second.
// TIMEOUT: 300
// SERIAL: yes
#include "check.h"
#include "gort.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

enum { N = 1000000 };
#define MIB (1024L * 1024L)
#define SLACK (64 * MIB)
#define DESCRIPTOR_BYTES 256L

static atomic_int started;
static gort_chan *gate;
static gort_waitgroup done;

static void parked_until_gate_closes(void *arg) {
    (void)arg;
    atomic_fetch_add(&started, 1);
    CHECK_EQ(gort_chan_recv(gate, NULL), 0); /* 0: closed */
    gort_waitgroup_done(&done);
}

/* N goroutines alive at once, then all of them end. Returns the peak RSS. */
static long burst(void) {
    atomic_store(&started, 0);
    gate = gort_chan_make(0, 0);
    CHECK(gate != NULL);
    gort_waitgroup_add(&done, N);
    for (int i = 0; i < N; i++) CHECK_EQ(gort_go(parked_until_gate_closes, NULL), 0);
    while (atomic_load(&started) < N) gort_sleep(1000000);
    long peak = statm_bytes(1);
    gort_chan_close(gate);
    gort_waitgroup_wait(&done);
    gort_chan_release(gate);
    return peak;
}

/* Polls (no timing assertion: a generous limit) until RSS is at most `limit`; reports
 * how long that took in `*ms` (information only). */
static long settle(long limit, long *ms) {
    int64_t t0 = gort_now();
    long rss = statm_bytes(1);
    for (int i = 0; i < 600 && rss > limit; i++) {
        gort_sleep(100000000);
        rss = statm_bytes(1);
    }
    *ms = (long)((gort_now() - t0) / 1000000);
    return rss;
}

static int main_goroutine(void *arg) {
    (void)arg;
    long before = statm_bytes(1);
    long peak = burst();
    long limit = before + SLACK + N * DESCRIPTOR_BYTES;
    long ms = 0;
    long after = settle(limit, &ms);
    fprintf(stderr, "first burst: before %ld MiB, peak %ld MiB, after %ld MiB (limit %ld MiB) in %ld ms\n",
            before / MIB, peak / MIB, after / MIB, limit / MIB, ms);
    CHECK(peak > limit); /* the burst really cost memory */
    CHECK(after <= limit);

    /* Descriptors are reused now: nothing beyond the slack stays. */
    long base2 = after;
    long peak2 = burst();
    long after2 = settle(base2 + SLACK, &ms);
    fprintf(stderr, "second burst: before %ld MiB, peak %ld MiB, after %ld MiB in %ld ms\n", base2 / MIB,
            peak2 / MIB, after2 / MIB, ms);
    CHECK(peak2 > base2 + SLACK);
    CHECK(after2 <= base2 + SLACK);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
