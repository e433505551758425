package main

// yield_same: two goroutines running the same function each call runtime.Gosched() N
// times while the main goroutine waits in a WaitGroup. C twin: bench/c/yield_same.c.

import (
	"runtime"
	"sync"
	"time"
)

func init() { register("yield_same", 10_000_000, benchYieldSame) }

func benchYieldSame(n int64) (time.Duration, int64) {
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(2)
	for k := 0; k < 2; k++ {
		go func() {
			for i := int64(0); i < n; i++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	return time.Since(t0), 2 * n
}
