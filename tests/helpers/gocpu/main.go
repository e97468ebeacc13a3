// gocpu: a small CPU-bound Go program that writes a CPU profile with runtime/pprof, for the
// pprof tests of diagnose (tests/test_pprof_input.py) and the fixture fixtures/gocpu.pprof.pb.gz.
//
// Usage: gocpu PROFILE SECONDS
//
// Three goroutines run for SECONDS each: hashLoop (plain arithmetic in a non-inlined function),
// mixLoop (calls mix, small enough for the compiler to inline: pprof keeps it as an inlined
// frame of mixLoop's location), and writeLoop (write(2) of 64 bytes to /dev/null through
// syscall.Write, so its samples end in Go's system-call wrappers).
package main

import (
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"syscall"
	"time"
)

var sink uint64

//go:noinline
func hashLoop(deadline time.Time) uint64 {
	var h uint64 = 14695981039346656037
	for time.Now().Before(deadline) {
		for i := 0; i < 100000; i++ {
			h ^= uint64(i)
			h *= 1099511628211
		}
	}
	return h
}

// mix is inlined into mixLoop (go build -gcflags=-m says "can inline mix").
func mix(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 29
	return x
}

//go:noinline
func mixLoop(deadline time.Time) uint64 {
	var acc uint64 = 1
	for time.Now().Before(deadline) {
		for i := 0; i < 100000; i++ {
			acc = mix(acc + uint64(i))
		}
	}
	return acc
}

//go:noinline
func writeLoop(deadline time.Time, fd int) int {
	buf := make([]byte, 64)
	n := 0
	for time.Now().Before(deadline) {
		for i := 0; i < 1000; i++ {
			if _, err := syscall.Write(fd, buf); err == nil {
				n++
			}
		}
	}
	return n
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: gocpu PROFILE SECONDS")
		os.Exit(2)
	}
	secs, err := strconv.ParseFloat(os.Args[2], 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gocpu: SECONDS:", err)
		os.Exit(2)
	}
	out, err := os.Create(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "gocpu:", err)
		os.Exit(1)
	}
	null, err := syscall.Open("/dev/null", syscall.O_WRONLY, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gocpu: /dev/null:", err)
		os.Exit(1)
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		fmt.Fprintln(os.Stderr, "gocpu:", err)
		os.Exit(1)
	}
	deadline := time.Now().Add(time.Duration(secs * float64(time.Second)))
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, work := range []func() uint64{
		func() uint64 { return hashLoop(deadline) },
		func() uint64 { return mixLoop(deadline) },
		func() uint64 { return uint64(writeLoop(deadline, null)) },
	} {
		wg.Add(1)
		go func(work func() uint64) {
			defer wg.Done()
			v := work()
			mu.Lock()
			sink += v
			mu.Unlock()
		}(work)
	}
	wg.Wait()
	pprof.StopCPUProfile()
	if err := out.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "gocpu:", err)
		os.Exit(1)
	}
	fmt.Println(sink != 0)
}
