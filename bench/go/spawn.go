package main

// spawn: the main goroutine starts N goroutines that each atomically decrement a shared
// counter and call Done on a WaitGroup, then waits on it. Twin of bench/c/spawn.c. Reports
// ns per goroutine; the harness reports peak RSS. The worker is a plain function over
// package-level state, so the go statement allocates no closure.

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
