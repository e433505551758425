// Command gocgobench holds the Go side of gort's interop benchmarks, the ones whose Go
// twin needs cgo (a C function called from Go, a C thread calling Go). It is a program of
// its own so that bench/go's gobench stays a pure-Go binary. Same protocol as gobench
// (bench/README.md): `gocgobench <name> [N]` prints
//
//	RESULT name=<name> ns_per_op=<float> ops=<int>
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

type benchmark struct {
	defaultN int64
	run      func(n int64) (elapsed time.Duration, ops int64)
}

var benchmarks = map[string]benchmark{}

func register(name string, defaultN int64, run func(n int64) (time.Duration, int64)) {
	benchmarks[name] = benchmark{defaultN, run}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: gocgobench <benchmark> [N]")
		os.Exit(2)
	}
	b, ok := benchmarks[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "gocgobench: unknown benchmark %q\n", os.Args[1])
		os.Exit(2)
	}
	n := b.defaultN
	if len(os.Args) > 2 {
		v, err := strconv.ParseInt(os.Args[2], 10, 64)
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "bad N: %s\n", os.Args[2])
			os.Exit(2)
		}
		n = v
	}
	elapsed, ops := b.run(n)
	fmt.Printf("RESULT name=%s ns_per_op=%.3f ops=%d\n", os.Args[1], float64(elapsed.Nanoseconds())/float64(ops), ops)
}
