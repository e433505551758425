package main

// mutex: 8 goroutines each lock a shared sync.Mutex, increment a counter and unlock, N/8
// times; the main goroutine waits on a WaitGroup. Twin of bench/c/mutex.c. Reports ns per
// lock/unlock pair.

import (
	"sync"
	"time"
)

func init() { register("mutex", 10_000_000, benchMutex) }

func benchMutex(n int64) (time.Duration, int64) {
	const g = 8
	var mu sync.Mutex
	var wg sync.WaitGroup
	var counter int64
	t0 := time.Now()
	wg.Add(g)
	for i := 0; i < g; i++ {
		go func() {
			for j := int64(0); j < n/g; j++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	return time.Since(t0), counter
}
