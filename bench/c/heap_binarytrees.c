/* heap_binarytrees: the Benchmarks Game's binary-trees at depth N (default 21), in the shape
 * of its Go program with goroutines: a stretch tree of depth N+1 is built, checked and
 * dropped; a long-lived tree of depth N is built; then for every depth d = 4, 6, ..., N one
 * task (goroutine on gort, thread on Boehm and mimalloc) builds and checks 2^(N-d+4) trees
 * of depth d; finally the long-lived tree is checked. A node is two pointers (16 bytes),
 * allocated zeroed; check counts the nodes. On mimalloc every tree is freed explicitly
 * after its check (the floor); the collected heaps just drop it.
 *
 * Prints the Benchmarks Game's output lines, and one RESULT line with ops = nodes allocated
 * and check = FNV-1a of the output text (bench/heap/run requires it equal on every side).
 * Compiled three times (bench/c/heap.h); Go twin: bench/go/heap_binarytrees.go. */
#include "heap.h"

#ifndef BENCH_NAME
#define BENCH_NAME "heap_binarytrees" /* bench/c/heap_binarytrees_concurrent.c reuses this file */
#endif

#define MIN_DEPTH 4

typedef struct node { struct node *left, *right; } node;
static heap_type node_type;

static node *bottom_up(int depth) {
    node *n = heap_new(node_type);
    HEAP_OOM(n);
    if (depth > 0) {
        n->left = bottom_up(depth - 1);
        n->right = bottom_up(depth - 1);
    }
    return n;
}

static long long check(const node *n) {
    return n->left ? 1 + check(n->left) + check(n->right) : 1;
}

/* Frees a dropped tree only where memory is managed by hand. */
#if defined(HEAP_MIMALLOC)
static void free_tree(node *n) {
    if (n->left) {
        free_tree(n->left);
        free_tree(n->right);
    }
    heap_free(n);
}
#define DROP(t) free_tree(t)
#else
#define DROP(t) ((void)(t))
#endif

typedef struct depth_task { int depth; long long iterations, check; } depth_task;

static void run_depth(void *arg) {
    depth_task *t = arg;
    long long chk = 0;
    for (long long i = 0; i < t->iterations; i++) {
        node *tree = bottom_up(t->depth);
        chk += check(tree);
        DROP(tree);
    }
    t->check = chk;
}

static uint64_t fnv = 0xcbf29ce484222325ULL;
static void out(const char *line) {
    fputs(line, stdout);
    for (const char *p = line; *p; p++) fnv = (fnv ^ (unsigned char)*p) * 0x100000001b3ULL;
}

static long long max_depth;

static int bench_main(void *arg) {
    (void)arg;
    static const size_t ptrs[] = {offsetof(node, left), offsetof(node, right)};
    node_type = heap_type_new("node", sizeof(node), ptrs, 2);
    char line[128];
    long long nodes = 0;
    int64_t t0 = bench_now();

    int stretch = (int)max_depth + 1;
    node *st = bottom_up(stretch);
    long long c = check(st);
    DROP(st);
    nodes += c;
    snprintf(line, sizeof line, "stretch tree of depth %d\t check: %lld\n", stretch, c);
    out(line);

    node *long_lived = bottom_up((int)max_depth);

    int ntasks = (int)(max_depth - MIN_DEPTH) / 2 + 1;
    depth_task *tasks = calloc((size_t)ntasks, sizeof *tasks);
    HEAP_OOM(tasks);
    for (int i = 0; i < ntasks; i++) {
        int d = MIN_DEPTH + 2 * i;
        tasks[i] = (depth_task){d, 1LL << (max_depth - d + MIN_DEPTH), 0};
    }
    heap_parallel(run_depth, tasks, sizeof *tasks, ntasks);
    for (int i = 0; i < ntasks; i++) {
        nodes += tasks[i].check;
        snprintf(line, sizeof line, "%lld\t trees of depth %d\t check: %lld\n",
                 tasks[i].iterations, tasks[i].depth, tasks[i].check);
        out(line);
    }

    c = check(long_lived);
    nodes += c;
    snprintf(line, sizeof line, "long lived tree of depth %lld\t check: %lld\n", max_depth, c);
    out(line);
    DROP(long_lived);
    int64_t elapsed = bench_now() - t0;

    heap_gcstats gs = heap_read_gcstats();
    char extra[160];
    snprintf(extra, sizeof extra, "check=%016llx num_gc=%llu pause_max_ns=%llu",
             (unsigned long long)fnv, (unsigned long long)gs.num_gc,
             (unsigned long long)gs.pause_max_ns);
    heap_report(BENCH_NAME, elapsed, nodes, extra);
    free(tasks);
    return 0;
}

int main(int argc, char **argv) {
    max_depth = bench_n(argc, argv, 21);
    if (max_depth < MIN_DEPTH + 2) max_depth = MIN_DEPTH + 2;
    return heap_run(bench_main, NULL);
}
