package clv

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

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
		u := rng.Float64()
		if math.Log(u) < 0.5*x*x+d-d*v+d*math.Log(v) {
			return d * v
		}
	}
}

func betaRand(rng *rand.Rand, a, b float64) float64 {
	x := gammaRand(rng, a)
	return x / (x + gammaRand(rng, b))
}

// simulate draws n customers from a BG/NBD with Gamma-Gamma spend, in
// weeks. Customers join uniformly over the first 12 weeks of a 78-week
// window. With days = true, purchase times are rounded down to whole days,
// as Summarize produces them, so that rows condense into patterns.
func simulate(seed uint64, n int, bg BGNBD, gg GammaGamma, days bool) []Summary {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	out := make([]Summary, n)
	for i := range out {
		T := 78 - 12*rng.Float64()
		if days {
			T = math.Floor(T*7) / 7
		}
		lambda := gammaRand(rng, bg.R) / bg.Alpha
		p := betaRand(rng, bg.A, bg.B)
		var x, tx float64
		t := 0.0
		for {
			t += rng.ExpFloat64() / lambda
			if t > T {
				break
			}
			if days {
				d := math.Floor(t*7) / 7
				if d == tx && x > 0 || d == 0 {
					// same day as the previous occasion: one occasion
					if rng.Float64() < p {
						break
					}
					continue
				}
				x, tx = x+1, d
			} else {
				x, tx = x+1, t
			}
			if rng.Float64() < p {
				break
			}
		}
		s := Summary{X: x, Tx: tx, T: T}
		if x > 0 {
			nu := gammaRand(rng, gg.Q) / gg.Gamma
			s.MeanSpend = gammaRand(rng, gg.P*x) / nu / x
		}
		out[i] = s
	}
	return out
}

var (
	simBG = BGNBD{R: 0.25, Alpha: 4, A: 0.8, B: 2.5}
	simGG = GammaGamma{P: 6, Q: 4, Gamma: 15}
)

func TestFitModels_Recovery(t *testing.T) {
	ss := simulate(1, 100_000, simBG, simGG, false)
	f, err := FitModels(ss, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bg := f.Purchase.(BGNBD)
	// Likelihood-ratio check: the true parameters must lie inside the 99.9%
	// confidence region of the fit (χ²₄ 0.999 quantile 18.47, χ²₃ 16.27).
	llTrue, sllTrue := 0.0, 0.0
	for _, s := range ss {
		llTrue += simBG.LogLikelihood(s)
		sllTrue += simGG.LogLikelihood(s)
	}
	if lr := 2 * (f.LogLik - llTrue); lr < -1e-6 || lr > 18.47 {
		t.Errorf("BG/NBD LR statistic %.3f (fit %+v, true %+v)", lr, bg, simBG)
	}
	if lr := 2 * (f.SpendLogLik - sllTrue); lr < -1e-6 || lr > 16.27 {
		t.Errorf("Gamma-Gamma LR statistic %.3f (fit %+v, true %+v)", lr, f.Spend, simGG)
	}
	for _, c := range []struct {
		name            string
		got, want, tolr float64
	}{
		{"r", bg.R, simBG.R, 0.05}, {"alpha", bg.Alpha, simBG.Alpha, 0.07},
		{"a", bg.A, simBG.A, 0.15}, {"b", bg.B, simBG.B, 0.2},
		{"p", f.Spend.P, simGG.P, 0.1}, {"q", f.Spend.Q, simGG.Q, 0.1}, {"gamma", f.Spend.Gamma, simGG.Gamma, 0.15},
	} {
		if math.Abs(c.got-c.want)/c.want > c.tolr {
			t.Errorf("%s = %.4f, true %.4f (tolerance %.0f%%)", c.name, c.got, c.want, 100*c.tolr)
		}
	}
	t.Logf("fit %+v spend %+v", bg, f.Spend)
}

func TestFitBGNBD_DayDiscretised(t *testing.T) {
	ss := simulate(2, 20_000, simBG, simGG, true)
	p, err := condense(ss)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.w) >= len(ss)*6/10 {
		t.Errorf("%d patterns for %d customers: condensing is not effective", len(p.w), len(ss))
	}
	m, _, err := FitBGNBD(ss)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(m.R-simBG.R)/simBG.R > 0.15 || math.Abs(m.Alpha-simBG.Alpha)/simBG.Alpha > 0.2 {
		t.Errorf("fit %+v, true %+v", m, simBG)
	}
}

func benchmarkFit(b *testing.B, ss []Summary) {
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := FitModels(ss, FitOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFitModels_CDNOW(b *testing.B) {
	ss, _ := loadCDNOWSummary(b)
	benchmarkFit(b, ss)
}

func BenchmarkFitModels_Sim10k(b *testing.B) {
	benchmarkFit(b, simulate(3, 10_000, simBG, simGG, true))
}
func BenchmarkFitModels_Sim100k(b *testing.B) {
	benchmarkFit(b, simulate(3, 100_000, simBG, simGG, true))
}
func BenchmarkFitModels_Sim1M(b *testing.B) {
	benchmarkFit(b, simulate(3, 1_000_000, simBG, simGG, true))
}

func BenchmarkFitParetoNBD_CDNOW(b *testing.B) {
	ss, _ := loadCDNOWSummary(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := FitParetoNBD(ss); err != nil {
			b.Fatal(err)
		}
	}
}

// A summary that cannot enter the likelihood is named in the fit's error:
// by its customer, or by its position when the caller left the IDs out.
func TestFit_InvalidSummaryIsNamed(t *testing.T) {
	ss := []Summary{{ID: "a", X: 1, Tx: 2, T: 5}, {ID: "b", X: 2, Tx: 6, T: 5}}
	for _, c := range []struct {
		ids  bool
		want string
	}{{true, `customer "b": need 0 <= t_x <= T`}, {false, "summary 1 (no customer ID): need 0 <= t_x <= T"}} {
		in := slices.Clone(ss)
		if !c.ids {
			for i := range in {
				in[i].ID = ""
			}
		}
		_, _, err := FitPurchaseModelContext(context.Background(), ModelBGNBD, in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("IDs %v: error %v, want it to contain %q", c.ids, err, c.want)
		}
	}
}
