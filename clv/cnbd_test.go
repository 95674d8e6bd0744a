package clv

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// With k = 1 the MBG/CNBD-k is the MBG/NBD: same log-likelihood, P(alive)
// and conditional expectation.
func TestMBGCNBD_K1IsMBGNBD(t *testing.T) {
	c := MBGCNBD{K: 1, R: 0.85, Alpha: 1.45, A: 0.79, B: 2.42}
	m := MBGNBD{R: c.R, Alpha: c.Alpha, A: c.A, B: c.B}
	for _, s := range []Summary{{X: 0, T: 30}, {X: 1, Tx: 2, T: 40, LogITT: 0.7}, {X: 12, Tx: 70, T: 78, LogITT: 9},
		{X: 3, Tx: 3, T: 3, LogITT: -1}, {X: 40, Tx: 10, T: 500}} {
		for name, pair := range map[string][2]float64{
			"log-likelihood": {c.LogLikelihood(s), m.LogLikelihood(s)},
			"P(alive)":       {c.PAlive(s), m.PAlive(s)},
			"E[Y(39)]":       {c.ConditionalExpected(39, s), m.ConditionalExpected(39, s)},
		} {
			if d := math.Abs(pair[0] - pair[1]); d > 1e-9*math.Max(1, math.Abs(pair[1])) {
				t.Errorf("%+v %s: %.12g, MBG/NBD %.12g", s, name, pair[0], pair[1])
			}
		}
	}
}

// The log-likelihood is BTYDplus's xbgcnbd.LL with dropout at zero,
// transcribed term by term (P1..P4, S1, S2) at k = 3.
func TestMBGCNBD_LogLikelihoodMatchesBTYDplus(t *testing.T) {
	k, r, alpha, a, b := 3.0, 0.85, 1.45, 0.79, 2.42
	m := MBGCNBD{K: 3, R: r, Alpha: alpha, A: a, B: b}
	lbeta := func(x, y float64) float64 { return lnGamma(x) + lnGamma(y) - lnGamma(x+y) }
	for _, s := range []Summary{{X: 0, T: 30}, {X: 2, Tx: 20, T: 40, LogITT: 4.6}, {X: 9, Tx: 50, T: 90, LogITT: 15}} {
		x, tx, T := s.X, s.Tx, s.T
		P1 := (k-1)*s.LogITT - x*math.Log(2) // log(factorial(k-1))
		P2 := lbeta(a, b+x+1) - lbeta(a, b)
		P3 := lnGamma(r+k*x) - lnGamma(r) + r*math.Log(alpha)
		P4 := -(r + k*x) * math.Log(alpha+T)
		S1 := a / (b + x) * math.Pow((alpha+T)/(alpha+tx), r+k*x)
		S2 := 1.0
		for j := 1.0; j <= k-1; j++ {
			S2a := 1.0
			for i := 0.0; i <= j-1; i++ {
				S2a *= r + k*x + i
			}
			S2 += S2a * math.Pow(T-tx, j) / (math.Gamma(j+1) * math.Pow(alpha+T, j))
		}
		want := P1 + P2 + P3 + P4 + math.Log(S1+S2)
		if got := m.LogLikelihood(s); math.Abs(got-want) > 1e-9*math.Abs(want) {
			t.Errorf("%+v: log-likelihood %.12g, BTYDplus %.12g", s, got, want)
		}
		if got, want := m.PAlive(s), 1/(1+S1/S2); math.Abs(got-want) > 1e-12 {
			t.Errorf("%+v: P(alive) %.12g, BTYDplus %.12g", s, got, want)
		}
	}
}

// The analytic gradient of the fit's objective matches central differences
// for k = 1..4.
func TestMBGCNBD_GradientMatchesDifferences(t *testing.T) {
	ss, _ := simulateCNBD(rand.New(rand.NewPCG(7, 8)), MBGCNBD{K: 3, R: 0.85, Alpha: 1.45, A: 0.79, B: 2.42}, 500, 1)
	p, err := condense(ss)
	if err != nil {
		t.Fatal(err)
	}
	theta := []float64{math.Log(0.7), math.Log(2), math.Log(0.9), math.Log(2.1)}
	for k := 1; k <= 4; k++ {
		obj := cnbdObjective(context.Background(), p, k)
		g := make([]float64, 4)
		obj(theta, g)
		for i := range theta {
			x := append([]float64(nil), theta...)
			const h = 1e-6
			x[i] = theta[i] + h
			fp := obj(x, nil)
			x[i] = theta[i] - h
			fm := obj(x, nil)
			if num := (fp - fm) / (2 * h); math.Abs(num-g[i]) > 1e-6*math.Max(1, math.Abs(num)) {
				t.Errorf("k=%d d/dθ%d: analytic %.9g, differences %.9g", k, i, g[i], num)
			}
		}
	}
}

// simulateCNBD draws n customers from the MBG/CNBD-k as BTYDplus's
// xbgcnbd.GenerateData does (drop-out possible at time 0 and after each
// purchase, Erlang-k gaps), with observation lengths of 36..96 weeks in
// steps of 12, times rounded to days. It returns calibration summaries and
// the purchases in the next holdout weeks.
func simulateCNBD(rng *rand.Rand, m MBGCNBD, n int, holdout float64) ([]Summary, []float64) {
	ss, hs := make([]Summary, n), make([]float64, n)
	day := func(v float64) float64 { return math.Round(v*7) / 7 }
	for i := range n {
		T := math.Round((36+60*rng.Float64())/12) * 12
		lambda := gammaRand(rng, m.R) / m.Alpha
		p := math.Max(betaRand(rng, m.A, m.B), 1e-5)
		times := []float64{0}
		for tm := 0.0; rng.Float64() >= p; {
			tm += gammaRand(rng, float64(m.K)) / lambda
			if tm > T+holdout {
				break
			}
			times = append(times, day(tm))
		}
		s := Summary{T: T}
		prev := 0.0
		for _, tm := range times[1:] {
			if tm > T {
				hs[i]++
				continue
			}
			if tm > prev {
				s.X++
				s.LogITT += math.Log(tm - prev)
				s.Tx, prev = tm, tm
			}
		}
		ss[i] = s
	}
	return ss, hs
}

// On customers who buy on a rhythm (k = 3, BTYDplus's test parameters) the
// fit recovers k and the parameters, and predicts the holdout better than
// the MBG/NBD, which takes the regular gaps for random ones.
func TestMBGCNBD_RecoversRegularBuyers(t *testing.T) {
	if testing.Short() {
		t.Skip("fits several k on 4,000 customers")
	}
	truth := MBGCNBD{K: 3, R: 0.85, Alpha: 1.45, A: 0.79, B: 2.42}
	ss, hold := simulateCNBD(rand.New(rand.NewPCG(1, 2)), truth, 4000, 36)
	pm, ll, err := FitPurchaseModelContext(context.Background(), ModelMBGCNBD, ss)
	if err != nil {
		t.Fatal(err)
	}
	m := pm.(MBGCNBD)
	t.Logf("fitted k=%d r=%.3f alpha=%.3f a=%.3f b=%.3f (truth k=3 r=0.85 alpha=1.45 a=0.79 b=2.42), log-likelihood %.1f", m.K, m.R, m.Alpha, m.A, m.B, ll)
	if m.K != truth.K {
		t.Errorf("k = %d, want %d", m.K, truth.K)
	}
	for name, pair := range map[string][2]float64{"r": {m.R, truth.R}, "alpha": {m.Alpha, truth.Alpha}, "a": {m.A, truth.A}, "b": {m.B, truth.B}} {
		if math.Abs(pair[0]/pair[1]-1) > 0.25 {
			t.Errorf("%s = %.3f, truth %.3f", name, pair[0], pair[1])
		}
	}
	mbg, _, err := FitPurchaseModelContext(context.Background(), ModelMBGNBD, ss)
	if err != nil {
		t.Fatal(err)
	}
	mae := func(pm PurchaseModel) (float64, float64) {
		var e, pred, act float64
		for i, s := range ss {
			v := pm.ConditionalExpected(36, s)
			e += math.Abs(v - hold[i])
			pred += v
			act += hold[i]
		}
		return e / float64(len(ss)), 100 * (pred - act) / act
	}
	maeC, biasC := mae(m)
	maeM, biasM := mae(mbg)
	t.Logf("36-week holdout: MAE %.4f (bias %+.1f%%) MBG/CNBD-k, %.4f (bias %+.1f%%) MBG/NBD: %.1f%% lower", maeC, biasC, maeM, biasM, 100*(1-maeC/maeM))
	if maeC >= maeM {
		t.Errorf("MBG/CNBD-k holdout MAE %.4f is not below MBG/NBD's %.4f", maeC, maeM)
	}
}

// Without inter-purchase times (a summary CSV has none) k cannot be chosen:
// the fit is the MBG/NBD's.
func TestMBGCNBD_WithoutLogITTFitsK1(t *testing.T) {
	ss, _ := simulateCNBD(rand.New(rand.NewPCG(3, 4)), MBGCNBD{K: 2, R: 0.85, Alpha: 1.45, A: 0.79, B: 2.42}, 800, 1)
	for i := range ss {
		ss[i].LogITT = 0
	}
	pm, _, err := FitPurchaseModelContext(context.Background(), ModelMBGCNBD, ss)
	if err != nil {
		t.Fatal(err)
	}
	if k := pm.(MBGCNBD).K; k != 1 {
		t.Errorf("k = %d without inter-purchase times", k)
	}
}

// Summarize records the log inter-purchase times.
func TestSummarize_LogITT(t *testing.T) {
	day0 := time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)
	at := func(d int) Order { return Order{At: day0.AddDate(0, 0, d)} }
	s, _ := Summarize("c", []Order{at(0), at(7), at(21), at(22)}, day0.AddDate(0, 0, 30), Week)
	want := math.Log(1) + math.Log(2) + math.Log(1.0/7)
	if math.Abs(s.LogITT-want) > 1e-12 || s.X != 3 {
		t.Errorf("LogITT %.6f (x %v), want %.6f", s.LogITT, s.X, want)
	}
}

// The fit's gradient allocates nothing per pattern: it runs for every
// pattern at every step (a 96-byte buffer moved to the heap made gigabytes
// of garbage in a fit of 300k customers).
func TestMBGCNBD_PatternGradAllocatesNothing(t *testing.T) {
	m := MBGCNBD{K: 3, R: 0.5, Alpha: 4, A: 0.8, B: 2.5}
	g := make([]float64, 4)
	if n := testing.AllocsPerRun(100, func() { m.patternGrad(3, 20, 30, 1, g) }); n != 0 {
		t.Errorf("patternGrad allocates %v times a call, want 0", n)
	}
}
