package main

// chan_buf_1x1 and chan_buf_4x4: producers send N int64 values in all through one channel
// of capacity 1024 to consumers; the last producer closes it; the main goroutine waits for
// the consumers on a WaitGroup. Twins of bench/c/chan_buf_1x1.c and chan_buf_4x4.c.
// Reports ns per value.

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func init() {
	register("chan_buf_1x1", 10_000_000, func(n int64) (time.Duration, int64) { return chanBuf(n, 1, 1) })
	register("chan_buf_4x4", 10_000_000, func(n int64) (time.Duration, int64) { return chanBuf(n, 4, 4) })
}

func chanBuf(n int64, producers, consumers int) (time.Duration, int64) {
	ch := make(chan int64, 1024)
	per := n / int64(producers)
	var wg sync.WaitGroup
	var left atomic.Int32
	var total atomic.Int64
	left.Store(int32(producers))
	t0 := time.Now()
	wg.Add(consumers)
	for i := 0; i < consumers; i++ {
		go func() {
			var sum int64
			for v := range ch {
				sum += v
			}
			total.Add(sum)
			wg.Done()
		}()
	}
	for i := 0; i < producers; i++ {
		go func() {
			for j := int64(0); j < per; j++ {
				ch <- j
			}
			if left.Add(-1) == 0 {
				close(ch)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(t0)
	if total.Load() != int64(producers)*(per*(per-1)/2) {
		fmt.Fprintln(os.Stderr, "wrong sum")
		os.Exit(1)
	}
	return elapsed, per * int64(producers)
}
