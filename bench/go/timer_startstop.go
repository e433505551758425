package main

// timer_startstop: N timer start/stop pairs (time.NewTimer for one hour, then Stop),
// split evenly over one goroutine per P. Twin of bench/c/timer_startstop.c. Reports ns per
// pair; the harness also reports CPU time.

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

func init() { register("timer_startstop", 1_000_000, benchTimerStartStop) }

func benchTimerStartStop(n int64) (time.Duration, int64) {
	procs := int64(runtime.GOMAXPROCS(0))
	per := n / procs
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(int(procs))
	for p := int64(0); p < procs; p++ {
		go func() {
			for i := int64(0); i < per; i++ {
				t := time.NewTimer(time.Hour)
				if !t.Stop() {
					fmt.Fprintln(os.Stderr, "Stop did not stop a pending timer")
					os.Exit(1)
				}
			}
			wg.Done()
		}()
	}
	wg.Wait()
	return time.Since(t0), per * procs
}
