// Command fitbench measures the wall time and peak memory of fitting the
// BG/NBD and Gamma-Gamma models on simulated customers:
//
//	go run ./bench/fitbench -n 1000000
//
// It prints the fit time, the Go heap figures from runtime.MemStats and the
// process's peak resident set size (VmHWM from /proc/self/status, Linux
// only). The simulated summaries themselves take about 56 bytes per
// customer, which is included in the peak.
//
// With -lifetimes DIR (a folder holding the lifetimes 0.11.3 and autograd
// sources, importable by Debian's python3 with python3-numpy, -scipy,
// -pandas and -dill installed), it also fits the same customers with
// lifetimes in one run and prints both times, their ratio and the largest
// relative difference of the parameters:
//
//	go run ./bench/fitbench -n 20000 -join-weeks 78 -lifetimes /tmp/pyref -pareto
//
// -join-weeks spreads first purchases over that many weeks at day
// resolution (realistic data condenses poorly: about 300k unique patterns
// in a million customers over 78 weeks); the default, 12, is the older
// benchmark's.
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
	join := flag.Float64("join-weeks", 12, "weeks over which first purchases are spread (day resolution)")
	ref := flag.String("lifetimes", "", "folder with lifetimes and autograd sources: also fit with lifetimes and compare")
	pareto := flag.Bool("pareto", false, "with -lifetimes, also compare Pareto/NBD (lifetimes takes minutes at 20k)")
	python := flag.String("python", "/usr/bin/python3", "python interpreter for -lifetimes")
	runs := flag.Int("runs", 3, "with -lifetimes, paired runs (the best of each is compared)")
	flag.Parse()

	ss := simulate(*seed, *n, *join)
	if *ref != "" {
		if err := compare(ss, *ref, *python, *runs, *pareto); err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		return
	}
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
// joining over the last join weeks of a 78-week window (12 in clv's tests).
func simulate(seed uint64, n int, join float64) []clv.Summary {
	const r, alpha, a, b, p, q, g = 0.25, 4.0, 0.8, 2.5, 6.0, 4.0, 15.0
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]clv.Summary, n)
	for i := range out {
		T := math.Floor((78-join*rng.Float64())*7) / 7
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
