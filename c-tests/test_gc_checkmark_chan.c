/* gccheckmark checks what the program holds, not what a channel's ring happens to still
 * contain. A received element stays in its ring slot (stale) until a later send
 * overwrites it; the collector reports the whole ring of a channel whose lock is held
 * when the world stops (its holder may be stopped halfway through a copy), so at the end
 * of a concurrent mark the stale slots of a locked channel point at lists that were
 * garbage when the cycle began and were rightly left unmarked. The checker used to take
 * them for missed objects and end the program (about 1 run in 60 of gc_stress).
 *
 * Here lists of fresh nodes go through small channels in bursts while receivers park on
 * the empty channels (taking the lock) and the main goroutine collects again and again:
 * the program must run to the end with the checker on, and every list arrives intact.
 * Before the fix this program failed about 1 run in 15 (the first round mostly), so it
 * is a stress test of the scenario; the unit test
 * `gc::roots::tests::channel_buffer_reports_live_elements_or_the_whole_ring_when_locked`
 * checks the classification itself. */
// ENV: GORT_GCMODE=concurrent
// ENV: GORT_DEBUG=gccheckmark=1
// ENV: GORT_MAXPROCS=2
// ASAN: yes
// TIMEOUT: 300
#include "check.h"
#include <gort.h>
#include <stddef.h>
#include <stdint.h>

struct node {
    struct node *next;
    uint64_t value;
};
static const gort_type *node_type;

enum { ROUNDS = 3, CHANS = 4, CAP = 8, BURSTS = 400, LEN = 12, MIN_CYCLES = 100 };

struct msg {
    struct node *head;
    uint64_t sum;
};

static gort_chan *chans[CHANS];
static gort_waitgroup senders, receivers;
static int senders_left; /* atomically */

static void sender(void *arg) {
    gort_chan *c = chans[(uintptr_t)arg];
    uint64_t seed = (uintptr_t)arg * 7919u;
    for (int b = 0; b < BURSTS; b++) {
        for (int k = 0; k < CAP; k++) {
            struct msg m = {NULL, 0};
            for (int i = 0; i < LEN; i++) {
                struct node *n = gort_new(node_type);
                CHECK(n != NULL);
                n->value = ++seed;
                n->next = m.head;
                m.head = n;
                m.sum += n->value;
            }
            CHECK_EQ(gort_chan_send(c, &m), 0);
        }
        gort_sleep(20000); /* the channel sits empty, its slots stale, its receiver parked */
    }
    __atomic_fetch_sub(&senders_left, 1, __ATOMIC_RELEASE);
    gort_waitgroup_done(&senders);
}

static void receiver(void *arg) {
    gort_chan *c = chans[(uintptr_t)arg];
    struct msg m;
    while (gort_chan_recv(c, &m) == 1) {
        uint64_t sum = 0;
        for (struct node *n = m.head; n; n = n->next) sum += n->value;
        CHECK(sum == m.sum);
    }
    gort_waitgroup_done(&receivers);
}

static void round_trip(void) {
    gort_waitgroup_add(&senders, CHANS);
    gort_waitgroup_add(&receivers, CHANS);
    __atomic_store_n(&senders_left, CHANS, __ATOMIC_RELEASE);
    for (uintptr_t i = 0; i < CHANS; i++) {
        chans[i] = gort_chan_make(sizeof(struct msg), CAP);
        CHECK(chans[i] != NULL);
        CHECK_EQ(gort_go(receiver, (void *)i), 0);
        CHECK_EQ(gort_go(sender, (void *)i), 0);
    }
    gort_memstats ms = {.size = sizeof ms};
    gort_read_memstats(&ms);
    uint32_t before = ms.num_gc;
    /* Collects for as long as the senders run (and at least MIN_CYCLES times). */
    for (int i = 0; i < MIN_CYCLES || __atomic_load_n(&senders_left, __ATOMIC_ACQUIRE) > 0; i++) gort_gc();
    gort_waitgroup_wait(&senders);
    for (int i = 0; i < CHANS; i++) gort_chan_close(chans[i]);
    gort_waitgroup_wait(&receivers);
    gort_read_memstats(&ms);
    CHECK(ms.num_gc - before >= MIN_CYCLES);
    for (int i = 0; i < CHANS; i++) gort_chan_release(chans[i]);
}

static int body(void *arg) {
    (void)arg;
    static const size_t ptrs[] = {offsetof(struct node, next)};
    node_type = gort_type_new("node", sizeof(struct node), ptrs, 1);
    CHECK(node_type != NULL);
    for (int r = 0; r < ROUNDS; r++) round_trip();
    printf("ok\n");
    return 0;
}

int main(void) { return gort_main(body, NULL); }
