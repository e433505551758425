/* The C half of the Go + gort test: gort goroutines that Go talks to through gort
 * channels, and gort goroutines that call back into Go. */
#ifndef GORT_SIDE_H
#define GORT_SIDE_H

#include <gort.h>

/* A gort goroutine that answers every long received on `in` with twice its value on `out`,
 * until `in` is closed. */
typedef struct echo_pair {
    gort_chan *in, *out;
} echo_pair;
int echo_start(echo_pair *p);
long echo_roundtrip(echo_pair *p, long v); /* from a Go thread: blocks it, not Go */
void echo_stop(echo_pair *p);

/* `senders` gort goroutines each send `each` longs (1 each) on `out`. */
int fan_in_start(gort_chan *out, int senders, int each);

/* `callers` gort goroutines, each locked to its OS thread, call the Go function
 * goRelay(ch, value) `each` times; goRelay sends the value on the gort channel `ch` (so
 * the goroutine parks inside Go's callback). Each sends 1 on `done` at the end. */
int callbacks_start(gort_chan *ch, gort_chan *done, int callers, int each);

/* A gort heap list of `n` nodes held by a C root; its sum, walked after collections. */
void heap_list_make(long n);
long heap_list_sum(void);

/* A gort goroutine that recurses until its stack overflows. */
void overflow_in_goroutine(void);

/* gort_main from a Go thread whose main goroutine waits on a channel nobody sends on. */
int main_blocked_forever(void);

#endif
