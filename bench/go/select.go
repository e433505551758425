package main

// select2 and select4: K sender goroutines each send N/K values on their own channel
// (capacity 64); the main goroutine receives all N with a K-way select. Twins of
// bench/c/select2.c and select4.c. Reports ns per select.

import (
	"fmt"
	"os"
	"time"
)

func init() {
	register("select2", 4_000_000, benchSelect2)
	register("select4", 4_000_000, benchSelect4)
}

func startSenders(chs []chan int64, per int64) {
	for _, c := range chs {
		go func(c chan int64) {
			for i := int64(0); i < per; i++ {
				c <- i
			}
		}(c)
	}
}

func checkSum(sum, k, per int64) {
	if sum != k*(per*(per-1)/2) {
		fmt.Fprintln(os.Stderr, "wrong sum")
		os.Exit(1)
	}
}

func benchSelect2(n int64) (time.Duration, int64) {
	per := n / 2
	a, b := make(chan int64, 64), make(chan int64, 64)
	var sum int64
	t0 := time.Now()
	startSenders([]chan int64{a, b}, per)
	for i := int64(0); i < 2*per; i++ {
		select {
		case v := <-a:
			sum += v
		case v := <-b:
			sum += v
		}
	}
	elapsed := time.Since(t0)
	checkSum(sum, 2, per)
	return elapsed, 2 * per
}

func benchSelect4(n int64) (time.Duration, int64) {
	per := n / 4
	a, b, c, d := make(chan int64, 64), make(chan int64, 64), make(chan int64, 64), make(chan int64, 64)
	var sum int64
	t0 := time.Now()
	startSenders([]chan int64{a, b, c, d}, per)
	for i := int64(0); i < 4*per; i++ {
		select {
		case v := <-a:
			sum += v
		case v := <-b:
			sum += v
		case v := <-c:
			sum += v
		case v := <-d:
			sum += v
		}
	}
	elapsed := time.Since(t0)
	checkSum(sum, 4, per)
	return elapsed, 4 * per
}
