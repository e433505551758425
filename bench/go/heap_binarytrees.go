package main

// heap_binarytrees: the Benchmarks Game's binary-trees at depth N (default 21), its Go
// program with goroutines: a stretch tree of depth N+1 built, checked and dropped; a
// long-lived tree of depth N; one goroutine per depth d = 4, 6, ..., N building and
// checking 2^(N-d+4) trees of depth d; then the long-lived tree checked. A node is two
// pointers (16 bytes). Twin of bench/c/heap_binarytrees.c (Boehm, mimalloc, gort).
// ops = nodes allocated; check = FNV-1a of the output text, equal on every side.

import (
	"fmt"
	"hash/fnv"
	"os"
	"sync"
	"time"
)

func init() {
	register("heap_binarytrees", 21, benchBinaryTrees)
	// The same run, compared with gort's concurrent mode (bench/c/heap_binarytrees_concurrent.c).
	register("heap_binarytrees_concurrent", 21, benchBinaryTrees)
}

const btMinDepth = 4

type btNode struct{ left, right *btNode }

func btBottomUp(depth int) *btNode {
	if depth <= 0 {
		return &btNode{}
	}
	return &btNode{btBottomUp(depth - 1), btBottomUp(depth - 1)}
}

func (n *btNode) check() int64 {
	if n.left == nil {
		return 1
	}
	return 1 + n.left.check() + n.right.check()
}

func benchBinaryTrees(n int64) (time.Duration, int64) {
	maxDepth := int(n)
	if maxDepth < btMinDepth+2 {
		maxDepth = btMinDepth + 2
	}
	h := fnv.New64a()
	out := func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		os.Stdout.WriteString(line)
		h.Write([]byte(line))
	}
	var nodes int64
	t0 := time.Now()

	stretch := maxDepth + 1
	c := btBottomUp(stretch).check()
	nodes += c
	out("stretch tree of depth %d\t check: %d\n", stretch, c)

	longLived := btBottomUp(maxDepth)

	ntasks := (maxDepth-btMinDepth)/2 + 1
	iterations := make([]int64, ntasks)
	checks := make([]int64, ntasks)
	var wg sync.WaitGroup
	for i := 0; i < ntasks; i++ {
		depth := btMinDepth + 2*i
		iterations[i] = 1 << uint(maxDepth-depth+btMinDepth)
		wg.Add(1)
		go func(i, depth int) {
			defer wg.Done()
			var chk int64
			for j := int64(0); j < iterations[i]; j++ {
				chk += btBottomUp(depth).check()
			}
			checks[i] = chk
		}(i, depth)
	}
	wg.Wait()
	for i := 0; i < ntasks; i++ {
		nodes += checks[i]
		out("%d\t trees of depth %d\t check: %d\n", iterations[i], btMinDepth+2*i, checks[i])
	}

	c = longLived.check()
	nodes += c
	out("long lived tree of depth %d\t check: %d\n", maxDepth, c)
	elapsed := time.Since(t0)
	resultExtra = fmt.Sprintf("check=%016x num_gc=%d", h.Sum64(), gcCycles())
	return elapsed, nodes
}
