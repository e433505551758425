/* The concurrent collector while the program rewrites its pointers: on every P,
 * goroutines rotate linked lists, rebalance binary trees by rotations, swap array slots
 * with gort_cas_ptr, shift arrays with gort_store_range, and hand nodes to each other
 * through channels, all while cycles run beside them (gcstress) and gccheckmark verifies
 * every mark with the world stopped. Freed objects are poisoned: a node the collector
 * lost shows as a wrong key or a broken structure, and a missed barrier as gccheckmark's
 * fatal error. */
// ENV: GORT_GCMODE=concurrent
// ENV: GORT_DEBUG=gcstress=1009,gcpoison=1,gccheckmark=1
// ASAN: yes
// TIMEOUT: 600
#include "check.h"
#include <gort.h>
#include <stdint.h>
#include <string.h>

typedef struct node {
    struct node *next, *left, *right;
    long key;
    long check; /* ~key: a freed (poisoned) or reused node breaks it */
} node;

enum { SLOTS = 64 };
typedef struct holder {
    node *head, *tail;
    node *tree;
    node **slots;   /* SLOTS pointers (a gort_new_array of the "slots" type) */
    node **scratch; /* the same shape, for gort_store_range copies */
    long list_len;
} holder;

static const gort_type *node_t, *holder_t, *slot_t;
enum { WORKERS = 4, LIST = 20000, TREE = 255, ITERS = 300000 };
static holder *holders[WORKERS]; /* a registered root */
static gort_chan *handoff[WORKERS];
static gort_waitgroup wg;
static long received[WORKERS], sent[WORKERS];

static uint64_t rng_next(uint64_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static node *mk(long key) {
    node *n = gort_new(node_t);
    CHECK(n != NULL);
    n->key = key;
    n->check = ~key;
    return n;
}

static void ok(const node *n) { CHECK(n != NULL && n->check == ~n->key); }

/* Builds a balanced BST over keys [lo, hi). Initialising stores into a new object need no
 * barrier (the fields held nothing), but the test uses gort_store throughout anyway. */
static node *build(long lo, long hi) {
    if (lo >= hi) return NULL;
    long mid = (lo + hi) / 2;
    node *n = mk(mid);
    gort_store((void **)&n->left, build(lo, mid));
    gort_store((void **)&n->right, build(mid + 1, hi));
    return n;
}

/* Rotates the subtree at *link (a slot of a heap object) left or right, if it can. */
static void rotate(node **link, int left) {
    node *x = *link;
    if (!x) return;
    node *y = left ? x->right : x->left;
    if (!y) return;
    if (left) {
        gort_store((void **)&x->right, y->left);
        gort_store((void **)&y->left, x);
    } else {
        gort_store((void **)&x->left, y->right);
        gort_store((void **)&y->right, x);
    }
    gort_store((void **)link, y);
}

/* A random walk from the root, then a rotation there. */
static void rebalance(holder *h, uint64_t *s) {
    node **link = &h->tree;
    int depth = (int)(rng_next(s) % 8);
    for (int d = 0; d < depth && *link; d++) link = (rng_next(s) & 1) ? &(*link)->left : &(*link)->right;
    rotate(link, (int)(rng_next(s) & 1));
}

static long inorder(const node *n, long *prev, long *count) {
    if (!n) return 0;
    ok(n);
    long bad = inorder(n->left, prev, count);
    if (n->key <= *prev) bad++;
    *prev = n->key;
    ++*count;
    return bad + inorder(n->right, prev, count);
}

/* Moves the head of the list to its tail. */
static void rotate_list(holder *h) {
    node *first = h->head;
    if (!first || !first->next) return;
    gort_store((void **)&h->head, first->next);
    gort_store((void **)&first->next, NULL);
    gort_store((void **)&h->tail->next, first);
    gort_store((void **)&h->tail, first);
}

/* Replaces the list's head by a fresh copy (allocation during the mark: black). */
static void renew_head(holder *h) {
    node *old = h->head;
    if (!old) return;
    ok(old);
    node *n = mk(old->key);
    gort_store((void **)&n->next, old->next);
    if (h->tail == old) gort_store((void **)&h->tail, n);
    gort_store((void **)&h->head, n);
}

static node *pop_head(holder *h) {
    node *n = h->head;
    if (!n) return NULL;
    gort_store((void **)&h->head, n->next);
    if (!h->head) gort_store((void **)&h->tail, NULL);
    gort_store((void **)&n->next, NULL);
    h->list_len--;
    return n;
}

static void push_tail(holder *h, node *n) {
    ok(n);
    if (h->tail) gort_store((void **)&h->tail->next, n);
    else gort_store((void **)&h->head, n);
    gort_store((void **)&h->tail, n);
    h->list_len++;
}

static void swap_slots(holder *h, uint64_t *s) {
    int i = (int)(rng_next(s) % SLOTS), j = (int)(rng_next(s) % SLOTS);
    node *a = h->slots[i], *b = h->slots[j];
    CHECK(gort_cas_ptr((void **)&h->slots[i], a, b) == 1);
    if (i != j) CHECK(gort_cas_ptr((void **)&h->slots[j], b, a) == 1);
}

/* Rotates the slot array by k through the scratch array, with gort_store_range. */
static void shift_slots(holder *h, uint64_t *s) {
    int k = 1 + (int)(rng_next(s) % (SLOTS - 1));
    gort_store_range(h->scratch, h->slots, SLOTS * sizeof(node *));
    gort_store_range(h->slots, h->scratch + k, (size_t)(SLOTS - k) * sizeof(node *));
    gort_store_range(h->slots + (SLOTS - k), h->scratch, (size_t)k * sizeof(node *));
    /* Clear the scratch copies: deletions the barrier must see too. */
    for (int i = 0; i < SLOTS; i++) gort_store((void **)&h->scratch[i], NULL);
}

static void worker(void *arg) {
    int w = (int)(intptr_t)arg;
    holder *h = holders[w];
    uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(w + 1);
    for (int it = 0; it < ITERS; it++) {
        switch (rng_next(&s) % 6) {
        case 0: rotate_list(h); break;
        case 1: renew_head(h); break;
        case 2: rebalance(h, &s); break;
        case 3: swap_slots(h, &s); break;
        case 4: shift_slots(h, &s); break;
        case 5: {
            /* Hand a node to the next worker; take one from the previous if any. */
            node *n = h->list_len > LIST / 2 ? pop_head(h) : NULL;
            if (n) {
                if (gort_chan_send_until(handoff[(w + 1) % WORKERS], &n, 0) == 0) sent[w]++;
                else push_tail(h, n);
            }
            node *in = NULL;
            while (gort_chan_recv_until(handoff[w], &in, 0) == 1 && in) {
                push_tail(h, in);
                received[w]++;
                in = NULL;
            }
            break;
        }
        }
        if (it % 8 == 0) (void)mk(-1); /* garbage */
    }
    gort_waitgroup_done(&wg);
}

static int body(void *arg) {
    (void)arg;
    size_t node_ptrs[] = {offsetof(node, next), offsetof(node, left), offsetof(node, right)};
    node_t = gort_type_new("node", sizeof(node), node_ptrs, 3);
    size_t holder_ptrs[] = {offsetof(holder, head), offsetof(holder, tail), offsetof(holder, tree),
                            offsetof(holder, slots), offsetof(holder, scratch)};
    holder_t = gort_type_new("holder", sizeof(holder), holder_ptrs, 5);
    size_t slot_ptr[] = {0};
    slot_t = gort_type_new("slot", sizeof(node *), slot_ptr, 1);
    CHECK(node_t && holder_t && slot_t);
    CHECK(gort_root_add(holders, sizeof holders) == 0);
    for (int w = 0; w < WORKERS; w++) {
        holder *h = gort_new(holder_t);
        CHECK(h != NULL);
        holders[w] = h;
        for (long i = 0; i < LIST; i++) push_tail(h, mk(w * 1000000L + i));
        gort_store((void **)&h->tree, build(0, TREE));
        gort_store((void **)&h->slots, gort_new_array(slot_t, SLOTS));
        gort_store((void **)&h->scratch, gort_new_array(slot_t, SLOTS));
        CHECK(h->slots && h->scratch);
        for (int i = 0; i < SLOTS; i++) gort_store((void **)&h->slots[i], mk(i));
        handoff[w] = gort_chan_make(sizeof(node *), 4);
        CHECK(handoff[w] != NULL);
    }
    gort_waitgroup_add(&wg, WORKERS);
    for (int w = 0; w < WORKERS; w++) CHECK(gort_go(worker, (void *)(intptr_t)w) == 0);
    gort_waitgroup_wait(&wg);
    gort_gc();

    long total = 0, keysum = 0;
    for (int w = 0; w < WORKERS; w++) {
        holder *h = holders[w];
        node *in = NULL;
        while (gort_chan_recv_until(handoff[w], &in, 0) == 1 && in) {
            push_tail(h, in);
            in = NULL;
        }
        long n = 0;
        for (node *p = h->head; p; p = p->next) {
            ok(p);
            keysum += p->key;
            n++;
            if (!p->next) CHECK(p == h->tail);
        }
        CHECK_EQ(n, h->list_len);
        total += n;
        long prev = -1, count = 0;
        CHECK_EQ(inorder(h->tree, &prev, &count), 0);
        CHECK_EQ(count, TREE);
        long sum = 0, x = 0;
        for (int i = 0; i < SLOTS; i++) {
            ok(h->slots[i]);
            sum += h->slots[i]->key;
            x ^= h->slots[i]->key;
        }
        CHECK_EQ(sum, SLOTS * (SLOTS - 1) / 2);
        long want_x = 0;
        for (int i = 0; i < SLOTS; i++) want_x ^= i;
        CHECK_EQ(x, want_x);
    }
    long want_sum = 0;
    for (int w = 0; w < WORKERS; w++)
        for (long i = 0; i < LIST; i++) want_sum += w * 1000000L + i;
    CHECK_EQ(total, (long)WORKERS * LIST);
    CHECK_EQ(keysum, want_sum);
    long moved = 0;
    for (int w = 0; w < WORKERS; w++) moved += received[w];
    CHECK(moved > 0);
    gort_memstats ms;
    memset(&ms, 0, sizeof ms);
    ms.size = sizeof ms;
    gort_read_memstats(&ms);
    CHECK(ms.num_gc > 10);
    return 0;
}

int main(void) { return gort_main(body, NULL); }
