package main

// sieve: Go's concurrent prime sieve: a generator sends 2, 3, 4, ... on an unbuffered
// channel; each prime found starts a filter goroutine passing on the numbers it does not
// divide. Finds the first N primes. Twin of bench/c/sieve.c. Reports ns per prime.

import (
	"fmt"
	"os"
	"time"
)

func init() { register("sieve", 10_000, benchSieve) }

func sieveGenerate(ch chan<- int64) {
	for i := int64(2); ; i++ {
		ch <- i
	}
}

func sieveFilter(in <-chan int64, out chan<- int64, prime int64) {
	for {
		v := <-in
		if v%prime != 0 {
			out <- v
		}
	}
}

func benchSieve(n int64) (time.Duration, int64) {
	t0 := time.Now()
	ch := make(chan int64)
	go sieveGenerate(ch)
	var prime int64
	for i := int64(0); i < n; i++ {
		prime = <-ch
		out := make(chan int64)
		go sieveFilter(ch, out, prime)
		ch = out
	}
	elapsed := time.Since(t0)
	if n == 10000 && prime != 104729 {
		fmt.Fprintln(os.Stderr, "wrong prime")
		os.Exit(1)
	}
	return elapsed, n
}
