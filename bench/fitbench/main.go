// Command fitbench measures the wall time and peak memory of fitting the
// BG/NBD and Gamma-Gamma models on simulated customers:
//
//	go run ./bench/fitbench -n 1000000
//
// It prints the fit time, the Go heap figures from runtime.MemStats and the
// process's peak resident set size (VmHWM from /proc/self/status, Linux
// only). The simulated summaries themselves take about 56 bytes per
// customer, which is included in the peak.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/clvsync/clvsync/clv"
)

func main() {
	n := flag.Int("n", 1_000_000, "number of simulated customers")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()

	ss := simulate(*seed, *n)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	fmt.Printf("customers %d, heap after simulation %.1f MB, peak RSS so far %s\n",
		*n, float64(before.HeapAlloc)/1e6, vmHWM())

	start := time.Now()
	f, err := clv.FitModels(ss, clv.FitOptions{})
	elapsed := time.Since(start)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fit:", err)
		os.Exit(1)
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	fmt.Printf("fit %.3f s\n", elapsed.Seconds())
	fmt.Printf("bgnbd %v loglik %.2f\n", f.Purchase.Params(), f.LogLik)
	fmt.Printf("gamma-gamma %v loglik %.2f\n", f.Spend.Params(), f.SpendLogLik)
	fmt.Printf("allocated during fit %.1f MB in %d objects; heap sys %.1f MB\n",
		float64(after.TotalAlloc-before.TotalAlloc)/1e6, after.Mallocs-before.Mallocs, float64(after.HeapSys)/1e6)
	fmt.Printf("peak RSS (VmHWM) %s\n", vmHWM())
}

// vmHWM returns the peak resident set size reported by Linux.
func vmHWM() string {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return "n/a"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "n/a"
}

// simulate draws BG/NBD (r .25, α 4, a .8, b 2.5) customers with
// Gamma-Gamma (p 6, q 4, γ 15) spend, in weeks rounded down to whole days,
// joining over 12 weeks of a 78-week window (as in clv's tests).
func simulate(seed uint64, n int) []clv.Summary {
	const r, alpha, a, b, p, q, g = 0.25, 4.0, 0.8, 2.5, 6.0, 4.0, 15.0
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]clv.Summary, n)
	for i := range out {
		T := math.Floor((78-12*rng.Float64())*7) / 7
		lambda := gammaRand(rng, r) / alpha
		x1 := gammaRand(rng, a)
		drop := x1 / (x1 + gammaRand(rng, b))
		var x, tx, t float64
		for {
			t += rng.ExpFloat64() / lambda
			if t > T {
				break
			}
			if d := math.Floor(t*7) / 7; d > tx && d > 0 {
				x, tx = x+1, d
			}
			if rng.Float64() < drop {
				break
			}
		}
		s := clv.Summary{X: x, Tx: tx, T: T}
		if x > 0 {
			nu := gammaRand(rng, q) / g
			s.MeanSpend = gammaRand(rng, p*x) / nu / x
		}
		out[i] = s
	}
	return out
}

// gammaRand draws Gamma(shape, 1) by Marsaglia & Tsang (2000).
func gammaRand(rng *rand.Rand, shape float64) float64 {
	if shape < 1 {
		return gammaRand(rng, shape+1) * math.Pow(rng.Float64(), 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		if math.Log(rng.Float64()) < 0.5*x*x+d-d*v+d*math.Log(v) {
			return d * v
		}
	}
}
