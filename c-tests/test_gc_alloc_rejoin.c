/* A goroutine whose P sysmon took away while it ran C code for 10 ms rejoins the
 * scheduler at its next allocation: it takes an idle P, or queues itself and its thread
 * sleeps until a P runs it (Go's exitsyscall). So allocation loops never run on more
 * threads than there are Ps. Before, every retake added a thread that went on allocating
 * through the heap's shared, locked cache: binary-trees ran 9 goroutines on 9 threads
 * with 2 Ps and took 2.4 times Go's time.
 *
 * Six goroutines each run a long loop of "allocate, then compute without calling gort"
 * with one P. A counter tracks how many are inside the compute part at once. With the
 * rejoin the bound is 2: the goroutine whose P was just taken finishes its current
 * iteration (microseconds) while the P's new thread starts another goroutine, then queues
 * itself at its next allocation. The check allows 3, for a thread descheduled inside
 * that window on a loaded machine; without the rejoin all six run at once. */
// ENV: GORT_MAXPROCS=1
// TIMEOUT: 120
// CONCURRENT: yes
#include "check.h"
#include <gort.h>
#include <stdatomic.h>
#include <stddef.h>

#define GOROUTINES 6
#define ITERATIONS 40000
#define KEEP 64

struct node {
    struct node *next;
    unsigned long value;
};

static const gort_type *node_type;
static atomic_int inside, max_inside;
static gort_waitgroup wg = GORT_WAITGROUP_INIT;

static void allocate_and_compute(void *arg) {
    (void)arg;
    struct node *keep[KEEP] = {0};
    unsigned long sum = 0;
    for (long i = 0; i < ITERATIONS; i++) {
        struct node *n = gort_new(node_type);
        CHECK(n != NULL);
        n->value = (unsigned long)i;
        n->next = keep[i % KEEP];
        keep[i % KEEP] = n;

        int now = atomic_fetch_add(&inside, 1) + 1;
        int seen = atomic_load(&max_inside);
        while (now > seen && !atomic_compare_exchange_weak(&max_inside, &seen, now)) {
        }
        for (int k = 0; k < 2000; k++) sum = sum * 6364136223846793005UL + (unsigned long)k;
        atomic_fetch_sub(&inside, 1);
    }
    for (int k = 0; k < KEEP; k++) {
        if (keep[k]) sum += keep[k]->value; /* the kept chains are intact */
    }
    CHECK(sum != 1); /* uses sum, so the compute loop stays */
    gort_waitgroup_done(&wg);
}

static int main_goroutine(void *arg) {
    (void)arg;
    CHECK_EQ(gort_gomaxprocs(0), 1);
    static const size_t ptrs[] = {offsetof(struct node, next)};
    node_type = gort_type_new("node", sizeof(struct node), ptrs, 1);
    CHECK(node_type != NULL);
    gort_waitgroup_add(&wg, GOROUTINES);
    for (int i = 0; i < GOROUTINES; i++) CHECK_EQ(gort_go(allocate_and_compute, NULL), 0);
    gort_waitgroup_wait(&wg);
    int seen = atomic_load(&max_inside);
    fprintf(stderr, "at most %d of %d goroutines computed at once with 1 P\n", seen, GOROUTINES);
    CHECK(seen >= 1);
    CHECK(seen <= 3);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
