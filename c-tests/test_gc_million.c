// One million goroutines, each holding one heap object only in a local while parked: a
// few collections find every object through every goroutine's stack, and the objects are
// intact when the goroutines wake; once they have exited, the objects are freed.
// TIMEOUT: 600
// SERIAL: yes
#include "check.h"
#include "gort.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum { N = 1000000 };
struct obj {
    uint64_t id, check;
};
static const gort_type *obj_type;
static atomic_int parked, ok;
static gort_chan *gate;
static gort_waitgroup wg;

static void holder(void *arg) {
    uint64_t id = (uint64_t)(uintptr_t)arg;
    struct obj *o = gort_new(obj_type);
    CHECK(o != NULL);
    o->id = id;
    o->check = ~id;
    atomic_fetch_add(&parked, 1);
    int v;
    CHECK_EQ(gort_chan_recv(gate, &v), 0); /* closed: wakes everyone */
    if (o->id == id && o->check == ~id) atomic_fetch_add(&ok, 1);
    gort_waitgroup_done(&wg);
}

static int main_goroutine(void *arg) {
    (void)arg;
    obj_type = gort_type_new("obj", sizeof(struct obj), NULL, 0);
    CHECK(obj_type != NULL);
    gate = gort_chan_make(sizeof(int), 0);
    gort_waitgroup_add(&wg, N);
    for (int i = 0; i < N; i++) CHECK_EQ(gort_go(holder, (void *)(uintptr_t)i), 0);
    while (atomic_load(&parked) < N) gort_sleep(1000000);
    gort_memstats m;
    memset(&m, 0, sizeof m);
    m.size = sizeof m;
    for (int i = 0; i < 3; i++) gort_gc();
    gort_read_memstats(&m);
    fprintf(stderr, "%d goroutines parked: %llu objects, last pause %.1f ms\n", N,
            (unsigned long long)m.heap_objects, m.pause_ns[(m.num_gc + 255) % 256] / 1e6);
    CHECK(m.heap_objects >= N);
    gort_chan_close(gate);
    gort_waitgroup_wait(&wg);
    CHECK_EQ(atomic_load(&ok), N);
    for (int i = 0; i < 2; i++) gort_gc();
    gort_read_memstats(&m);
    CHECK(m.heap_objects < N / 100);
    gort_chan_release(gate);
    return 0;
}

int main(void) { return gort_main(main_goroutine, NULL); }
