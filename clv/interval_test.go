package clv

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The purchase-count distribution behind the intervals is exact for BG/NBD
// and MBG/NBD: its mean equals the model's E[Y(h) | x, t_x, T].
func TestPurchaseTail_MeanIsConditionalExpected(t *testing.T) {
	models := []PurchaseModel{
		BGNBD{R: 0.2426, Alpha: 4.4135, A: 0.7929, B: 2.4258},
		MBGNBD{R: 0.525, Alpha: 6.183, A: 0.891, B: 1.614},
	}
	for _, m := range models {
		for _, s := range []Summary{{X: 0, Tx: 0, T: 38}, {X: 2, Tx: 30.43, T: 38.86}, {X: 7, Tx: 35, T: 38}, {X: 1, Tx: 2, T: 70}} {
			for _, h := range []float64{4, 39, 104} {
				mean := 0.0
				for _, v := range purchaseTail(m, s, h) {
					mean += v
				}
				if want := m.ConditionalExpected(h, s); math.Abs(mean-want) > 1e-7*math.Max(1, want) {
					t.Errorf("%s %+v h=%g: mean of the distribution %.10g, E[Y] %.10g", m.Name(), s, h, mean, want)
				}
			}
		}
	}
}

// An 80% interval (10th to 90th percentile) covers what it promises of
// customers' realised holdout value, on customers simulated from known
// BG/NBD and Gamma-Gamma parameters (calibration to week 66-78, 39-week
// holdout). A customer likely to buy nothing has an atom at 0 inside the
// interval, so the promise is F(hi) − F(lo−) >= 80%, not exactly 80%: the
// realised coverage must match the promised one within two points.
func TestInterval_Coverage(t *testing.T) {
	bg, gg := knownBG, knownGG
	f := &Fitted{Purchase: bg, Spend: gg}
	rng := rand.New(rand.NewPCG(42, 7))
	const n, holdout = 4000, 39.0
	covered, zeroWidth := 0, 0
	promised := 0.0
	var sumLow, sumHigh, sumActual float64
	ss, values := simulateBG(rng, bg, gg, n, holdout)
	for i, s := range ss {
		value := values[i]
		pred := f.Predict(s, 1, 0, holdout)
		lo, hi := f.Interval(s, 1, holdout, pred, 0.1, 0.9)
		if lo > pred.CLV || hi < pred.CLV && hi > 0 {
			t.Fatalf("%+v: interval [%g, %g] does not bracket the prediction %g", s, lo, hi, pred.CLV)
		}
		if lo <= value && value <= hi {
			covered++
		}
		if cdf := f.valueCDF(s, 1, holdout, pred); cdf != nil {
			below := 0.0
			if lo > 0 {
				below = cdf(lo * (1 - 1e-9))
			}
			promised += cdf(hi) - below
		} else {
			promised++ // no purchase expected: [0, 0] holds the value 0 for sure
		}
		if hi == 0 {
			zeroWidth++
		}
		sumLow, sumHigh, sumActual = sumLow+lo, sumHigh+hi, sumActual+value
	}
	cov, prom := float64(covered)/n, promised/n
	t.Logf("coverage %.1f%% of %d customers, promised %.1f%% (%d with [0, 0]: P(no purchase) >= 90%%); sums: low %.0f, actual %.0f, high %.0f",
		100*cov, n, 100*prom, zeroWidth, sumLow, sumActual, sumHigh)
	if math.Abs(cov-prom) > 0.02 || prom < 0.8 {
		t.Errorf("80%% intervals cover %.1f%% of customers, promised %.1f%%", 100*cov, 100*prom)
	}
}

func BenchmarkInterval(b *testing.B) {
	f := &Fitted{Purchase: BGNBD{R: 0.6, Alpha: 8, A: 0.7, B: 3}, Spend: GammaGamma{P: 6, Q: 4, Gamma: 15}}
	s := Summary{X: 4, Tx: 60, T: 70, MeanSpend: 35}
	p := f.Predict(s, 12, 0.008, WeeksPerMonth)
	for b.Loop() {
		f.Interval(s, 12, WeeksPerMonth, p, 0.1, 0.9)
	}
}

// The variance of simulated customers' holdout values matches the model's,
// summed over the base: an interval on a total built from it covers the
// realised total.
func TestVariance_MatchesSimulation(t *testing.T) {
	bg := BGNBD{R: 0.6, Alpha: 8, A: 0.7, B: 3}
	gg := GammaGamma{P: 6, Q: 4, Gamma: 15}
	f := &Fitted{Purchase: bg, Spend: gg}
	s := Summary{X: 3, Tx: 50, T: 70, MeanSpend: 40}
	pred := f.Predict(s, 1, 0, 39)
	want := f.Variance(s, 1, 39, pred)
	// Simulate the customer's next 39 weeks from the posterior.
	rng := rand.New(rand.NewPCG(1, 2))
	alive := bg.PAlive(s)
	var sum, sum2 float64
	const n = 200000
	for range n {
		v := 0.0
		if rng.Float64() < alive {
			lambda := gammaRand(rng, bg.R+s.X) / (bg.Alpha + s.T)
			p := betaRand(rng, bg.A, bg.B+s.X)
			nu := gammaRand(rng, gg.P*s.X+gg.Q) / (gg.Gamma + s.X*s.MeanSpend)
			for tm := rng.ExpFloat64() / lambda; tm <= 39; tm += rng.ExpFloat64() / lambda {
				v += gammaRand(rng, gg.P) / nu
				if rng.Float64() < p {
					break
				}
			}
		}
		sum, sum2 = sum+v, sum2+v*v
	}
	mean := sum / n
	got := sum2/n - mean*mean
	if math.Abs(mean-pred.CLV) > 0.02*pred.CLV || math.Abs(got-want) > 0.05*want {
		t.Errorf("simulated mean %.2f var %.1f; model mean %.2f var %.1f", mean, got, pred.CLV, want)
	}
}
