/* GORT_GC=off: nothing is collected however much garbage is made, until a memory limit is
 * set; from then on collections keep the heap near the limit. */
// ENV: GORT_GC=off
// ASAN: yes
// TIMEOUT: 300
// CONCURRENT: yes
#include "check.h"
#include <gort.h>
#include <string.h>

static gort_memstats stats(void) {
    gort_memstats m;
    memset(&m, 0, sizeof m);
    m.size = sizeof m;
    gort_read_memstats(&m);
    return m;
}

static int body(void *arg) {
    (void)arg;
    for (int i = 0; i < 200; i++) CHECK(gort_alloc_noscan(1 << 20) != NULL);
    gort_memstats m = stats();
    CHECK_EQ(m.num_gc, 0);
    CHECK(m.heap_alloc >= 200u << 20);
    CHECK_EQ(m.next_gc, 0);
    CHECK_EQ(gort_set_gc_percent(-1), -1);
    CHECK(gort_set_memory_limit(300LL << 20) == INT64_MAX);
    for (int i = 0; i < 1000; i++) CHECK(gort_alloc_noscan(1 << 20) != NULL);
    m = stats();
    CHECK(m.num_gc > 0);
    CHECK(m.heap_alloc <= 310u << 20);
    CHECK_EQ(m.num_forced_gc, 0);
    return 0;
}

int main(void) { return gort_main(body, NULL); }
