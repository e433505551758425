package main

// timer_sleep: N goroutines each sleep a pseudo-random 1-10 ms and call Done on a
// WaitGroup; ten rounds. Twin of bench/c/timer_sleep.c (same durations). Reports ns per
// sleep; the harness also reports CPU time.

import (
	"sync"
	"time"
)

func init() { register("timer_sleep", 100_000, benchTimerSleep) }

const timerSleepRounds = 10

var timerSleepWG sync.WaitGroup

func timerSleepDuration(i, round uint64) time.Duration {
	x := i*0x9E3779B97F4A7C15 ^ (round+1)*0xBF58476D1CE4E5B9
	x ^= x >> 31
	x *= 0x94D049BB133111EB
	x ^= x >> 29
	return time.Duration(1_000_000 + x%9_000_001)
}

func timerSleeper(d time.Duration) {
	time.Sleep(d)
	timerSleepWG.Done()
}

func benchTimerSleep(n int64) (time.Duration, int64) {
	t0 := time.Now()
	for r := 0; r < timerSleepRounds; r++ {
		timerSleepWG.Add(int(n))
		for i := int64(0); i < n; i++ {
			go timerSleeper(timerSleepDuration(uint64(i), uint64(r)))
		}
		timerSleepWG.Wait()
	}
	return time.Since(t0), n * timerSleepRounds
}
