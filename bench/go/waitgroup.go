package main

// waitgroup: fan-out rounds: add 100 to a WaitGroup, start 100 goroutines that each call
// Done, Wait; N goroutines in all. Twin of bench/c/waitgroup.c. Reports ns per goroutine.

import (
	"sync"
	"time"
)

func init() { register("waitgroup", 2_000_000, benchWaitGroup) }

var fanWG sync.WaitGroup

func fanWorker() { fanWG.Done() }

func benchWaitGroup(n int64) (time.Duration, int64) {
	const fan = 100
	rounds := n / fan
	t0 := time.Now()
	for r := int64(0); r < rounds; r++ {
		fanWG.Add(fan)
		for i := 0; i < fan; i++ {
			go fanWorker()
		}
		fanWG.Wait()
	}
	return time.Since(t0), rounds * fan
}
