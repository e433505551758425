package main

// pingpong: two goroutines bounce a value over two unbuffered channels, N round trips.
// Twin of bench/c/pingpong.c. Reports ns per round trip.

import "time"

func init() { register("pingpong", 1_000_000, benchPingPong) }

func benchPingPong(n int64) (time.Duration, int64) {
	ping, pong := make(chan int64), make(chan int64)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		ping <- i
		<-pong
	}
	elapsed := time.Since(t0)
	close(ping)
	return elapsed, n
}
