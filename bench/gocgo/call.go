package main

// call_roundtrip and blocking_pair: Go calls a trivial C function through cgo, N times
// (each call is entersyscall, the switch to the system stack, the call, exitsyscall).
// Twins of bench/c/call_roundtrip.c (C -> gort -> C) and bench/c/blocking_pair.c
// (gort_blocking_enter/exit around a trivial C call). Reports ns per call.

/*
static void noop(void) {}
*/
import "C"

import "time"

func init() {
	register("call_roundtrip", 20_000_000, benchCgoCall)
	register("blocking_pair", 20_000_000, benchCgoCall)
}

func benchCgoCall(n int64) (time.Duration, int64) {
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		C.noop()
	}
	return time.Since(t0), n
}
