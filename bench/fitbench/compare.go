package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/clvsync/clvsync/clv"
)

// lifetimesScript fits the CSV named by argv[1] with lifetimes and prints
// the times and parameters as JSON.
const lifetimesScript = `
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import pandas as pd
from lifetimes import BetaGeoFitter, GammaGammaFitter, ParetoNBDFitter
df = pd.read_csv(sys.argv[1])
out = {}
t = time.perf_counter()
bg = BetaGeoFitter(penalizer_coef=0.0).fit(df["frequency"], df["recency"], df["T"])
out["bgnbd_s"] = time.perf_counter() - t
out["bgnbd"] = {k: float(v) for k, v in bg.params_.items()}
rep = df[(df["frequency"] > 0) & (df["monetary_value"] > 0)]
t = time.perf_counter()
gg = GammaGammaFitter(penalizer_coef=0.0).fit(rep["frequency"], rep["monetary_value"])
out["gg_s"] = time.perf_counter() - t
out["gg"] = {k: float(v) for k, v in gg.params_.items()}
if sys.argv[2] == "pareto":
    t = time.perf_counter()
    pn = ParetoNBDFitter(penalizer_coef=0.0).fit(df["frequency"], df["recency"], df["T"])
    out["pareto_s"] = time.perf_counter() - t
    out["pareto"] = {k: float(v) for k, v in pn.params_.items()}
print(json.dumps(out))
`

type lifetimesResult struct {
	BGNBDSeconds  float64            `json:"bgnbd_s"`
	GGSeconds     float64            `json:"gg_s"`
	ParetoSeconds float64            `json:"pareto_s"`
	BGNBD         map[string]float64 `json:"bgnbd"`
	GG            map[string]float64 `json:"gg"`
	Pareto        map[string]float64 `json:"pareto"`
}

// compare fits ss with clvsync and with lifetimes, runs times each, and
// prints the best times side by side.
func compare(ss []clv.Summary, ref, python string, runs int, pareto bool) error {
	dir, err := os.MkdirTemp("", "fitbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "summary.csv")
	if err := writeCSV(path, ss); err != nil {
		return err
	}
	unique := map[[3]float64]bool{}
	for _, s := range ss {
		unique[[3]float64{s.X, s.Tx, s.T}] = true
	}
	fmt.Printf("customers %d, unique (x, t_x, T) patterns %d, %d cores (GOMAXPROCS %d), %s\n\n",
		len(ss), len(unique), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version())
	mode := "no-pareto"
	if pareto {
		mode = "pareto"
	}
	best := func(a, b float64) float64 {
		if a == 0 || b < a {
			return b
		}
		return a
	}
	var goBG, goPareto, lt, ltPareto float64
	var fit *clv.Fitted
	var pm clv.PurchaseModel
	var ltRes lifetimesResult
	for i := range runs {
		start := time.Now()
		f, err := clv.FitModelsContext(context.Background(), ss, clv.FitOptions{Model: clv.ModelBGNBD})
		if err != nil {
			return fmt.Errorf("clvsync fit: %w", err)
		}
		goBG, fit = best(goBG, time.Since(start).Seconds()), f
		if pareto {
			start = time.Now()
			m, _, err := clv.FitPurchaseModelContext(context.Background(), clv.ModelParetoNBD, ss)
			if err != nil {
				return fmt.Errorf("clvsync Pareto/NBD fit: %w", err)
			}
			goPareto, pm = best(goPareto, time.Since(start).Seconds()), m
		}
		if i > 0 && pareto {
			continue // lifetimes' Pareto/NBD takes minutes: one run
		}
		cmd := exec.Command(python, "-c", lifetimesScript, path, mode)
		cmd.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join(ref, "lt")+string(os.PathListSeparator)+filepath.Join(ref, "ag"))
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return fmt.Errorf("lifetimes (%s; install python3-numpy python3-scipy python3-pandas python3-dill and put lifetimes in %s/lt, autograd in %s/ag): %w", python, ref, ref, err)
		}
		var r lifetimesResult
		if err := json.Unmarshal(out, &r); err != nil {
			return fmt.Errorf("lifetimes output %q: %w", out, err)
		}
		lt, ltRes = best(lt, r.BGNBDSeconds+r.GGSeconds), r
		if pareto {
			ltPareto = r.ParetoSeconds
		}
	}
	fmt.Printf("%-24s %12s %12s %8s   %s\n", "fit (best of runs)", "clvsync s", "lifetimes s", "ratio", "largest parameter difference")
	fmt.Printf("%-24s %12.3f %12.3f %7.1fx   %.1e\n", "BG/NBD + Gamma-Gamma", goBG, lt, lt/goBG,
		math.Max(maxRelDiff(fit.Purchase.Params(), ltRes.BGNBD), maxRelDiff(fit.Spend.Params(), ltRes.GG)))
	if pareto {
		fmt.Printf("%-24s %12.3f %12.3f %7.1fx   %.1e\n", "Pareto/NBD", goPareto, ltPareto, ltPareto/goPareto, maxRelDiff(pm.Params(), ltRes.Pareto))
	}
	return nil
}

// maxRelDiff compares clvsync's parameters with lifetimes' names (r, alpha,
// a, b; p, q, v for γ; r, alpha, s, beta).
func maxRelDiff(ours, theirs map[string]float64) float64 {
	d := 0.0
	for k, v := range ours {
		name := k
		if k == "gamma" {
			name = "v"
		}
		if w, ok := theirs[name]; ok && w != 0 {
			d = math.Max(d, math.Abs(v/w-1))
		}
	}
	return d
}

// writeCSV writes the summaries in lifetimes' column names.
func writeCSV(path string, ss []clv.Summary) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"frequency", "recency", "T", "monetary_value"})
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, s := range ss {
		_ = w.Write([]string{g(s.X), g(s.Tx), g(s.T), g(s.MeanSpend)})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
