package main

// foreign_send: a C thread (a plain pthread) calls an exported Go function that sends a
// value to a goroutine on an unbuffered channel and waits for its reply, N round trips.
// Twin of bench/c/foreign_send.c. Timed inside the C thread after one warm-up call (the
// thread's first callback binds a Go M to it). Reports ns per round trip.

/*
#include <pthread.h>
#include <stdint.h>
#include <time.h>

extern void goRoundTrip(long long v);

static long long rounds;
static int64_t elapsed_ns;

static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *foreign_thread(void *arg) {
	(void)arg;
	goRoundTrip(0);
	int64_t t0 = now_ns();
	for (long long i = 0; i < rounds; i++) goRoundTrip(i);
	elapsed_ns = now_ns() - t0;
	return NULL;
}

static int64_t run_foreign_thread(long long n) {
	rounds = n;
	pthread_t t;
	if (pthread_create(&t, NULL, foreign_thread, NULL) != 0) return -1;
	pthread_join(t, NULL);
	return elapsed_ns;
}
*/
import "C"

import (
	"fmt"
	"os"
	"time"
)

var ping, pong = make(chan int64), make(chan int64)

//export goRoundTrip
func goRoundTrip(v C.longlong) {
	ping <- int64(v)
	<-pong
}

func init() { register("foreign_send", 1_000_000, benchForeignSend) }

func benchForeignSend(n int64) (time.Duration, int64) {
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	ns := C.run_foreign_thread(C.longlong(n))
	if ns < 0 {
		fmt.Fprintln(os.Stderr, "pthread_create failed")
		os.Exit(1)
	}
	close(ping)
	return time.Duration(ns), n
}
