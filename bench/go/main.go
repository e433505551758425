// Command gobench holds the Go side of gort's side-by-side benchmarks: one subcommand per
// benchmark, each the twin of bench/c/<name>.c. Usage: gobench <name> [N].
//
// Protocol (bench/README.md): the program measures its own timed region with the
// monotonic clock (time.Now/time.Since) and prints exactly one line on stdout:
//
//	RESULT name=<name> ns_per_op=<float> ops=<int>
//
// Adding a benchmark: a file <name>.go whose init calls register.
package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"
)

type benchmark struct {
	defaultN int64
	run      func(n int64) (elapsed time.Duration, ops int64)
}

var benchmarks = map[string]benchmark{}

// resultExtra, when a benchmark sets it, is appended to its RESULT line after ops= as
// " key=value ..." fields (the heap benchmarks' checksum, pauses, live bytes: read by
// bench/heap/run). Empty for the others, whose line stays exactly the protocol's.
var resultExtra string

func register(name string, defaultN int64, run func(n int64) (time.Duration, int64)) {
	benchmarks[name] = benchmark{defaultN, run}
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	name := os.Args[1]
	b, ok := benchmarks[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "gobench: unknown benchmark %q\n", name)
		usage()
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
	nsPerOp := 0.0
	if ops > 0 {
		nsPerOp = float64(elapsed.Nanoseconds()) / float64(ops)
	}
	extra := ""
	if resultExtra != "" {
		extra = " " + resultExtra
	}
	fmt.Printf("RESULT name=%s ns_per_op=%.3f ops=%d%s\n", name, nsPerOp, ops, extra)
}

func usage() {
	names := make([]string, 0, len(benchmarks))
	for k := range benchmarks {
		names = append(names, k)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: gobench <benchmark> [N]\nbenchmarks: %v\n", names)
	os.Exit(2)
}
