/* gc_pause_goroutines: the concurrent mode's first pause with many parked goroutines (not
 * in bench/run's list: a measurement quoted in ARCHITECTURE.md and README.md). G
 * goroutines (env G, default 10000) each put 4 KiB on their stack and park on a channel,
 * while the main goroutine churns a small heap; the program prints the longest pause and
 * the stack bytes in use. Run it with gctrace to see the first pause of every cycle:
 *   cc -O2 -Iinclude bench/c/gc_pause_goroutines.c target/release/libgort.a \
 *      -lpthread -ldl -lm -lrt -lutil -lgcc_s -o /tmp/gpg
 *   G=10000 GORT_MAXPROCS=2 GORT_GCMODE=concurrent GORT_DEBUG=gctrace=1 /tmp/gpg */
#include <gort.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct node {
    struct node *next;
    long v;
} node;

static gort_chan *block;
static const gort_type *node_t;
static node *root;

static void parked(void *arg) {
    (void)arg;
    volatile char pad[4096];
    memset((char *)pad, 1, sizeof pad);
    node *mine = gort_new(node_t);
    int x;
    gort_chan_recv(block, &x);
    gort_keep_alive(mine);
    (void)pad[0];
}

static int body(void *arg) {
    (void)arg;
    static const size_t next[] = {0};
    node_t = gort_type_new("node", sizeof(node), next, 1);
    gort_root_add(&root, sizeof root);
    int n = atoi(getenv("G") ? getenv("G") : "10000");
    block = gort_chan_make(sizeof(int), 0);
    for (int i = 0; i < n; i++) gort_go(parked, NULL);
    gort_sleep(100 * 1000 * 1000);
    for (long i = 0; i < 20000000; i++) {
        node *x = gort_new(node_t);
        x->next = (i % 4) ? NULL : root; /* a fresh object: no barrier needed */
        x->v = i;
        if (i % 1000 == 0) root = x;
        if (i % 100000 == 0) root = NULL;
    }
    gort_chan_close(block);
    gort_memstats ms;
    memset(&ms, 0, sizeof ms);
    ms.size = sizeof ms;
    gort_read_memstats(&ms);
    printf("G=%d num_gc %u pause_max %.3f ms stack_inuse %.1f MiB\n", n, ms.num_gc, ms.pause_max_ns / 1e6,
           ms.stack_inuse / 1048576.0);
    return 0;
}

int main(void) { return gort_main(body, NULL); }
