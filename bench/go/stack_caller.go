package main

// caller: runtime.Caller(1) N times from a non-inlined function, the twin of
// bench/c/caller.c. stack: runtime.Stack(buf, false) N times from a goroutine three calls
// deep, the twin of bench/c/stack.c. Both report ns per call.

import (
	"fmt"
	"os"
	"runtime"
	"time"
)

func init() {
	register("caller", 1_000_000, benchCaller)
	register("stack", 200_000, benchStack)
}

var callerSink int

//go:noinline
func where() {
	_, _, line, ok := runtime.Caller(1)
	if !ok {
		fmt.Fprintln(os.Stderr, "runtime.Caller failed")
		os.Exit(1)
	}
	callerSink += line
}

func benchCaller(n int64) (time.Duration, int64) {
	where()
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		where()
	}
	return time.Since(t0), n
}

var stackBuf = make([]byte, 4096)
var stackSink int

//go:noinline
func stackLeaf() {
	k := runtime.Stack(stackBuf, false)
	if k == 0 {
		fmt.Fprintln(os.Stderr, "runtime.Stack wrote nothing")
		os.Exit(1)
	}
	stackSink += k
}

//go:noinline
func stackMiddle() { stackLeaf() }

func benchStack(n int64) (time.Duration, int64) {
	stackMiddle()
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		stackMiddle()
	}
	return time.Since(t0), n
}
