// The transport suite's second client (bench/transport.ts --diag): grpc-go
// (Debian's packages, GOPATH mode), so the servers are compared without the
// grpc-js client's own cost (guides/performance.md R7). It does what
// bench/client.ts `measure` does: one connection (one ClientConn), raw
// request bytes, c goroutines making back-to-back unary calls, warm-up then
// a timed run, one latency sample per call, and prints one JSON line with
// the same fields as bench/h.ts `summarize`.
//
//	go_client measure <socket> <path> <reqHex> <conc> <warmMs> <runMs>
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
)

type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	p := v.(*[]byte)
	*p = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "raw" }

func fail(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", a...)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 8 || os.Args[1] != "measure" {
		fail("usage: go_client measure <socket> <path> <reqHex> <conc> <warmMs> <runMs>")
	}
	sock, path := os.Args[2], os.Args[3]
	req, err := hex.DecodeString(os.Args[4])
	if err != nil {
		fail("bad request hex: %v", err)
	}
	conc, _ := strconv.Atoi(os.Args[5])
	warmMs, _ := strconv.Atoi(os.Args[6])
	runMs, _ := strconv.Atoi(os.Args[7])
	conn, err := grpc.Dial("unix://"+sock, grpc.WithInsecure(),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		fail("dial: %v", err)
	}
	defer conn.Close()
	call := func() []byte {
		var resp []byte
		r := req
		if err := conn.Invoke(context.Background(), path, &r, &resp); err != nil {
			fail("call %s: %v", path, err)
		}
		return resp
	}
	first := call()

	var wg sync.WaitGroup
	until := time.Now().Add(time.Duration(warmMs) * time.Millisecond)
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(until) {
				call()
			}
		}()
	}
	wg.Wait()

	lat := make([][]float64, conc)
	t0 := time.Now()
	stop := t0.Add(time.Duration(runMs) * time.Millisecond)
	for i := 0; i < conc; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for {
				s := time.Now()
				if !s.Before(stop) {
					return
				}
				call()
				lat[i] = append(lat[i], float64(time.Since(s).Nanoseconds())/1000)
			}
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(t0).Seconds()

	var all []float64
	sum := 0.0
	for _, l := range lat {
		for _, x := range l {
			all = append(all, x)
			sum += x
		}
	}
	sort.Float64s(all)
	n := len(all)
	q := func(p float64) float64 {
		i := int(math.Floor(p * float64(n)))
		if i > n-1 {
			i = n - 1
		}
		return math.Round(all[i]*10) / 10
	}
	out, _ := json.Marshal(map[string]interface{}{
		"name":       path,
		"n":          n,
		"ops_s":      math.Round(float64(n) / elapsed),
		"p50_us":     q(0.5),
		"p99_us":     q(0.99),
		"mean_us":    math.Round(sum/float64(n)*10) / 10,
		"conc":       conc,
		"req_bytes":  len(req),
		"resp_bytes": len(first),
		"client":     "grpc-go",
	})
	fmt.Println(string(out))
}
