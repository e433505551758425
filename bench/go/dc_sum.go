package main

// dc_sum: divide-and-conquer sum of 0..N-1: every inner node starts two child goroutines
// for the halves of its range and waits for them on its own sync.WaitGroup. Twin of
// bench/c/dc_sum.c. Reports ns per leaf. Go's semaphore queues are keyed by address in a
// treap per bucket, which this many distinct WaitGroups make slow (golang/go#38420).

import (
	"fmt"
	"os"
	"sync"
	"time"
)

func init() { register("dc_sum", 1_000_000, benchDCSum) }

func dcSum(lo, hi int64, result *int64, done *sync.WaitGroup) {
	if hi-lo == 1 {
		*result = lo
	} else {
		mid := lo + (hi-lo)/2
		var wg sync.WaitGroup
		var a, b int64
		wg.Add(2)
		go dcSum(lo, mid, &a, &wg)
		go dcSum(mid, hi, &b, &wg)
		wg.Wait()
		*result = a + b
	}
	if done != nil {
		done.Done()
	}
}

func benchDCSum(n int64) (time.Duration, int64) {
	t0 := time.Now()
	var sum int64
	dcSum(0, n, &sum, nil)
	elapsed := time.Since(t0)
	if sum != n*(n-1)/2 {
		fmt.Fprintln(os.Stderr, "wrong sum")
		os.Exit(1)
	}
	return elapsed, n
}
