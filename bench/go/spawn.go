package main

// spawn: the main goroutine starts N goroutines that each atomically decrement a shared
// counter and exit, then waits for all of them with a sync.WaitGroup (the C twin,
// bench/c/spawn.c, polls the counter with gort_gosched() because gort has no WaitGroup
// yet). Reports ns per goroutine; the harness reports peak RSS.
//
// As in the C twin the worker is a plain function over package-level state, so the go
// statement allocates no closure; wg.Add(n) is done once, so each goroutine costs one
// extra atomic (wg.Done) over the C twin.

import (
	"sync"
	"sync/atomic"
	"time"
)

func init() { register("spawn", 1_000_000, benchSpawn) }

var (
	spawnPending atomic.Int64
	spawnWG      sync.WaitGroup
)

func spawnWorker() {
	spawnPending.Add(-1)
	spawnWG.Done()
}

func benchSpawn(n int64) (time.Duration, int64) {
	t0 := time.Now()
	spawnPending.Store(n)
	spawnWG.Add(int(n))
	for i := int64(0); i < n; i++ {
		go spawnWorker()
	}
	spawnWG.Wait()
	return time.Since(t0), n
}
