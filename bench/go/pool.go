package main

// pool: sync.Pool get+put per op (the shape of Go's BenchmarkPool): one goroutine per P,
// each putting its own object and getting one back, N/P times; the main goroutine waits
// on a WaitGroup. Registered as `pool` (run at 1 P) and `pool_2p` (2 Ps). Twin of
// bench/c/pool.c. Reports ns per put+get pair (wall time / pairs).

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

func init() {
	register("pool", 20_000_000, benchPool)
	register("pool_2p", 20_000_000, benchPool)
}

type poolObj [64]byte

func benchPool(n int64) (time.Duration, int64) {
	g := runtime.GOMAXPROCS(0)
	per := n / int64(g)
	var pool sync.Pool
	var wg sync.WaitGroup
	sums := make([][8]int64, g)
	objs := make([]poolObj, g)
	t0 := time.Now()
	wg.Add(g)
	for k := 0; k < g; k++ {
		go func(id int) {
			var mine any = &objs[id]
			var s int64
			for i := int64(0); i < per; i++ {
				pool.Put(mine)
				mine = pool.Get()
				if mine == nil {
					mine = &objs[id]
				} else {
					s++
				}
			}
			sums[id][0] = s
			wg.Done()
		}(k)
	}
	wg.Wait()
	elapsed := time.Since(t0)
	var total int64
	for k := 0; k < g; k++ {
		total += sums[k][0]
	}
	if total < per*int64(g)-per/100 {
		fmt.Fprintln(os.Stderr, "gets found the pool empty too often")
		os.Exit(1)
	}
	return elapsed, per * int64(g)
}
