package clv

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// heavySpend returns the CDNOW summaries with each repeat buyer's mean spend
// redrawn from a heavy-tailed distribution (1/Gamma(0.6)), for which the
// Gamma-Gamma fit has q <= 1 (no finite population mean).
func heavySpend(t *testing.T) []Summary {
	_, ss := cdnowSummaryByID(t)
	rng := rand.New(rand.NewPCG(7, 11))
	out := make([]Summary, len(ss))
	for i, s := range ss {
		if s.X > 0 {
			s.MeanSpend = 5 / gammaRand(rng, 0.6)
		}
		out[i] = s
	}
	return out
}

// TestFitModels_SpendFallback: a Gamma-Gamma failure used to discard a good
// purchase-model fit.
func TestFitModels_SpendFallback(t *testing.T) {
	ss := heavySpend(t)
	if _, _, err := FitGammaGamma(ss); !errors.Is(err, ErrDegenerateFit) {
		t.Fatalf("premise: Gamma-Gamma on heavy-tailed spend: err = %v, want ErrDegenerateFit (q <= 1)", err)
	}
	f, err := FitModels(ss, FitOptions{})
	if err != nil {
		t.Fatalf("FitModels: %v; want the BG/NBD fit kept", err)
	}
	if f.SpendFallback == "" {
		t.Error("SpendFallback is empty; want a note saying the average spend is used")
	}
	checkSig(t, "r", f.Purchase.Params()["r"], cdnowBG.R, 4)
	var sum, n float64
	for _, s := range ss {
		if s.X > 0 {
			sum += s.X * s.MeanSpend
			n += s.X
		}
	}
	if want := sum / n; math.Abs(f.AverageSpend-want) > 1e-9*want {
		t.Errorf("AverageSpend = %v, want %v", f.AverageSpend, want)
	}
	one := ss[0] // customer 1: x = 2
	p := f.Predict(one, 12, 0.01, 4.345)
	if p.ExpectedSpend != one.MeanSpend || !(p.PAlive > 0 && p.PAlive < 1) || !(p.CLV > 0) {
		t.Errorf("Predict(customer 1) = %+v; want own mean spend %v, P(alive) in (0,1), CLV > 0", p, one.MeanSpend)
	}
	if p := f.Predict(Summary{ID: "new", T: 10}, 12, 0.01, 4.345); p.ExpectedSpend != f.AverageSpend {
		t.Errorf("one-time buyer spend %v, want the base average %v", p.ExpectedSpend, f.AverageSpend)
	}
}
