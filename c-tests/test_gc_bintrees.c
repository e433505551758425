/* The Benchmarks Game's binary-trees (depth 12) on the GC heap, with a collection every
 * 97 allocations and poisoned frees: the checksums must match the known values, so no
 * live node was freed or overwritten. Trees are built in goroutines on every P. */
// ENV: GORT_DEBUG=gcstress=97,gcpoison=1
// ASAN: yes
// TIMEOUT: 600
// CONCURRENT: yes
#include "check.h"
#include <gort.h>
#include <stddef.h>

struct node {
    struct node *left, *right;
};
static const gort_type *node_type;

static struct node *make(int depth) {
    struct node *n = gort_new(node_type);
    CHECK(n != NULL);
    if (depth > 0) {
        n->left = make(depth - 1);
        n->right = make(depth - 1);
    }
    return n;
}

static long check(const struct node *n) { return n->left ? 1 + check(n->left) + check(n->right) : 1; }

enum { MIN_DEPTH = 4, MAX_DEPTH = 12 };
static long results[MAX_DEPTH + 1];
static gort_waitgroup wg;

static void level(void *arg) {
    int d = (int)(long)arg;
    long iters = 1L << (MAX_DEPTH - d + MIN_DEPTH), sum = 0;
    for (long i = 0; i < iters; i++) sum += check(make(d));
    results[d] = sum;
    gort_waitgroup_done(&wg);
}

static int body(void *arg) {
    (void)arg;
    static const size_t ptrs[] = {offsetof(struct node, left), offsetof(struct node, right)};
    node_type = gort_type_new("node", sizeof(struct node), ptrs, 2);
    CHECK(node_type != NULL);
    CHECK_EQ(check(make(MAX_DEPTH + 1)), (1L << (MAX_DEPTH + 2)) - 1);
    struct node *long_lived = make(MAX_DEPTH);
    for (int d = MIN_DEPTH; d <= MAX_DEPTH; d += 2) {
        gort_waitgroup_add(&wg, 1);
        CHECK_EQ(gort_go(level, (void *)(long)d), 0);
    }
    gort_waitgroup_wait(&wg);
    for (int d = MIN_DEPTH; d <= MAX_DEPTH; d += 2) {
        long iters = 1L << (MAX_DEPTH - d + MIN_DEPTH);
        CHECK_EQ(results[d], iters * ((1L << (d + 1)) - 1));
    }
    CHECK_EQ(check(long_lived), (1L << (MAX_DEPTH + 1)) - 1);
    return 0;
}

int main(void) { return gort_main(body, NULL); }
