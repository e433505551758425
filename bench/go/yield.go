package main

// yield: two goroutines on one P (GOMAXPROCS=1) each call runtime.Gosched() N times.
// The main goroutine is one of the two, so no third goroutine joins the rotation and the
// structure is the same as the C twin, bench/c/yield.c. Reports ns per yield (2N yields).

import (
	"runtime"
	"sync/atomic"
	"time"
)

func init() { register("yield", 10_000_000, benchYield) }

func benchYield(n int64) (time.Duration, int64) {
	var otherDone atomic.Bool
	t0 := time.Now()
	go func() {
		for i := int64(0); i < n; i++ {
			runtime.Gosched()
		}
		otherDone.Store(true)
	}()
	for i := int64(0); i < n; i++ {
		runtime.Gosched()
	}
	for !otherDone.Load() { // at most a yield or two, as in the C twin
		runtime.Gosched()
	}
	return time.Since(t0), 2 * n
}
