#include "gort_side.h"

#include <stddef.h>
#include <stdint.h>

#include "_cgo_export.h"

static void echo(void *arg) {
    echo_pair *p = arg;
    for (long v; gort_chan_recv(p->in, &v) == 1;) {
        v *= 2;
        gort_chan_send(p->out, &v);
    }
}

int echo_start(echo_pair *p) {
    p->in = gort_chan_make(sizeof(long), 0);
    p->out = gort_chan_make(sizeof(long), 0);
    if (!p->in || !p->out) return -1;
    return gort_go(echo, p);
}

long echo_roundtrip(echo_pair *p, long v) {
    gort_chan_send(p->in, &v);
    gort_chan_recv(p->out, &v);
    return v;
}

void echo_stop(echo_pair *p) {
    gort_chan_close(p->in);
}

typedef struct {
    gort_chan *out;
    int each;
} fan_in_job;

static void fan_in_sender(void *arg) {
    fan_in_job *job = arg;
    long one = 1;
    for (int i = 0; i < job->each; i++) gort_chan_send(job->out, &one);
}

int fan_in_start(gort_chan *out, int senders, int each) {
    static fan_in_job job; /* one fan-in at a time */
    job.out = out;
    job.each = each;
    for (int i = 0; i < senders; i++) {
        int rc = gort_go(fan_in_sender, &job);
        if (rc != 0) return rc;
    }
    return 0;
}

typedef struct {
    gort_chan *ch, *done;
    int each;
} callback_job;

static void callback_caller(void *arg) {
    callback_job *job = arg;
    /* Go's callback machinery binds a Go M to this OS thread, and goRelay parks this
     * goroutine inside it (gort_chan_send): unlocked, it could resume on another thread
     * with Go's frames on its stack. Locked, it always resumes here (cgo's rule for
     * callbacks, the same as Python's GIL needs). */
    gort_lock_os_thread();
    for (int i = 0; i < job->each; i++) goRelay(job->ch, 1);
    gort_unlock_os_thread();
    long one = 1;
    gort_chan_send(job->done, &one);
}

int callbacks_start(gort_chan *ch, gort_chan *done, int callers, int each) {
    static callback_job job;
    job.ch = ch;
    job.done = done;
    job.each = each;
    for (int i = 0; i < callers; i++) {
        int rc = gort_go(callback_caller, &job);
        if (rc != 0) return rc;
    }
    return 0;
}

struct node {
    struct node *next;
    long value;
};
static struct node *list;

void heap_list_make(long n) {
    static const size_t ptrs[] = {offsetof(struct node, next)};
    const gort_type *node_type = gort_type_new("interop_node", sizeof(struct node), ptrs, 1);
    gort_root_add(&list, sizeof list);
    for (long i = 1; i <= n; i++) {
        struct node *nd = gort_new(node_type);
        nd->value = i;
        nd->next = list;
        list = nd;
        if (i % 1000 == 0) gort_new(node_type); /* garbage, so collections free something */
    }
}

long heap_list_sum(void) {
    long sum = 0;
    for (struct node *nd = list; nd; nd = nd->next) sum += nd->value;
    return sum;
}

static int deeper(int n) {
    volatile char pad[512];
    pad[0] = (char)n;
    if (n < 0) return 0; /* never: n counts up from 0 until the stack runs out */
    return deeper(n + 1) + pad[0]; /* not a tail call: every level keeps its frame */
}

static void overflow(void *arg) {
    (void)arg;
    deeper(0);
}

void overflow_in_goroutine(void) {
    gort_go(overflow, NULL);
}

static int blocked_main(void *arg) {
    (void)arg;
    gort_chan *never = gort_chan_make(sizeof(long), 0);
    long v;
    gort_chan_recv(never, &v);
    return 0;
}

int main_blocked_forever(void) {
    return gort_main(blocked_main, NULL);
}
