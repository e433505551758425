package main

// skynet: a 10-ary tree of goroutines with N leaves (1M: 1,111,111 goroutines); a leaf
// sends its ordinal to its parent, an inner node starts its 10 children, sums their 10
// results from its own unbuffered channel and sends the total up. The classic benchmark;
// twin of bench/c/skynet.c. Reports ns per leaf; the harness reports peak RSS.

import (
	"fmt"
	"os"
	"time"
)

func init() { register("skynet", 1_000_000, benchSkynet) }

func skynet(parent chan int64, num, size int64) {
	if size == 1 {
		parent <- num
		return
	}
	rc := make(chan int64)
	sub := size / 10
	for i := int64(0); i < 10; i++ {
		go skynet(rc, num+i*sub, sub)
	}
	var sum int64
	for i := 0; i < 10; i++ {
		sum += <-rc
	}
	parent <- sum
}

func benchSkynet(n int64) (time.Duration, int64) {
	p10 := int64(1)
	for p10*10 <= n {
		p10 *= 10
	}
	n = p10 // the tree needs a power of 10 leaves: round down, as the C twin does
	t0 := time.Now()
	c := make(chan int64)
	go skynet(c, 0, n)
	sum := <-c
	elapsed := time.Since(t0)
	if sum != n*(n-1)/2 {
		fmt.Fprintln(os.Stderr, "wrong sum")
		os.Exit(1)
	}
	return elapsed, n
}
