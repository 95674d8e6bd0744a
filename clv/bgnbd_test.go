package clv

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
)

// relClose reports whether got agrees with want to sig significant digits
// (relative error below 0.5·10^(1−sig)).
func relClose(got, want float64, sig int) bool {
	if want == 0 {
		return got == 0
	}
	return math.Abs(got-want)/math.Abs(want) < 0.5*math.Pow(10, float64(1-sig))
}

func checkSig(t *testing.T, name string, got, want float64, sig int) {
	t.Helper()
	if !relClose(got, want, sig) {
		t.Errorf("%s = %.8g, want %.8g (%d significant digits)", name, got, want, sig)
	}
}

func cdnowSummaryByID(t *testing.T) (map[string]Summary, []Summary) {
	t.Helper()
	ss, _ := loadCDNOWSummary(t)
	m := make(map[string]Summary, len(ss))
	for _, s := range ss {
		m[s.ID] = s
	}
	return m, ss
}

// cdnowBG are lifetimes' CDNOW BG/NBD parameters (section 6).
var cdnowBG = BGNBD{R: 0.242593, Alpha: 4.413532, A: 0.792886, B: 2.425752}

func TestFitBGNBD_CDNOW(t *testing.T) {
	_, ss := cdnowSummaryByID(t)
	m, ll, err := FitBGNBD(ss)
	if err != nil {
		t.Fatal(err)
	}
	checkSig(t, "r", m.R, cdnowBG.R, 4)
	checkSig(t, "alpha", m.Alpha, cdnowBG.Alpha, 4)
	checkSig(t, "a", m.A, cdnowBG.A, 4)
	checkSig(t, "b", m.B, cdnowBG.B, 4)
	checkSig(t, "LL", ll, -9582.4256, 7)
	// Published FHL figures to 3 significant digits.
	checkSig(t, "published r", m.R, 0.243, 3)
	checkSig(t, "published alpha", m.Alpha, 4.414, 3)
	checkSig(t, "published a", m.A, 0.793, 3)
	checkSig(t, "published b", m.B, 2.426, 3)
	// Sum of per-customer LLs must equal the condensed total.
	sum := 0.0
	for _, s := range ss {
		sum += m.LogLikelihood(s)
	}
	checkSig(t, "sum of per-customer LL", sum, ll, 10)
}

func TestBGNBD_ConditionalExpected(t *testing.T) {
	tests := []struct {
		name string
		m    BGNBD
		t    float64
		s    Summary
		want float64
		sig  int
	}{
		{"FHL spreadsheet", cdnowBG, 39, Summary{X: 2, Tx: 30.43, T: 38.86}, 1.22591, 5},
		{"FHL spreadsheet published", cdnowBG, 39, Summary{X: 2, Tx: 30.43, T: 38.86}, 1.226, 4},
		{"a+b<1 with x=0 (lifetimes #442)", BGNBD{R: .11, Alpha: 2.24, A: .31, B: .50}, 30, Summary{T: 1}, 0.56459, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkSig(t, "E[Y]", tt.m.ConditionalExpected(tt.t, tt.s), tt.want, tt.sig)
		})
	}
}

func TestBGNBD_UnconditionalExpected(t *testing.T) {
	// FHL 2005 check values, as lifetimes' tests check them on its fit.
	m := cdnowBG
	for _, tt := range []struct{ t, want float64 }{
		{.1429, .0078}, {1, .0532}, {3, .1506}, {31.857, 1.0405}, {32, 1.0437}, {78, 1.8576},
	} {
		got := m.UnconditionalExpected(tt.t)
		if math.Abs(got-tt.want) > 0.00051 {
			t.Errorf("E[X(%v)] = %.5f, want %.4f", tt.t, got, tt.want)
		}
	}
}

func TestBGNBD_Edges(t *testing.T) {
	t.Run("large x stays finite", func(t *testing.T) {
		for _, x := range []float64{100, 500, 599, 600, 1000, 3000, 1e5} {
			s := Summary{X: x, Tx: 38.86, T: 38.86}
			e, p, ll := cdnowBG.ConditionalExpected(52, s), cdnowBG.PAlive(s), cdnowBG.LogLikelihood(s)
			if !isFinite(e) || !isFinite(p) || !isFinite(ll) || e <= 0 || p <= 0 || p > 1 {
				t.Errorf("x=%v: E=%v P=%v LL=%v", x, e, p, ll)
			}
			// Alive at T with rate ≈ (r+x)/(α+T): E[Y(52)] is close to
			// the Poisson mean for large x, far from inf/NaN.
			if x >= 600 {
				if poisson := (cdnowBG.R + x) / (cdnowBG.Alpha + 38.86) * 52; e > poisson || e < 0.5*poisson {
					t.Errorf("x=%v: E=%v, Poisson bound %v", x, e, poisson)
				}
			}
		}
		// Far from alive: tiny, finite, non-negative.
		s := Summary{X: 1e5, Tx: 4, T: 38.86}
		if e, p := cdnowBG.ConditionalExpected(52, s), cdnowBG.PAlive(s); !isFinite(e) || e < 0 || p < 0 || p > 1e-300 {
			t.Errorf("x=1e5 dead: E=%v P=%v", e, p)
		}
	})
	t.Run("a near 1 is continuous", func(t *testing.T) {
		s := Summary{X: 3, Tx: 20, T: 30}
		mid := BGNBD{R: .5, Alpha: 5, A: 1, B: 2}.ConditionalExpected(20, s)
		for _, d := range []float64{1e-15, 1e-12, 1e-9, 1e-6} {
			for _, sign := range []float64{-1, 1} {
				got := BGNBD{R: .5, Alpha: 5, A: 1 + sign*d, B: 2}.ConditionalExpected(20, s)
				if !isFinite(got) || math.Abs(got-mid) > 1e-5*mid {
					t.Errorf("a=1%+g: %v vs %v at a=1", sign*d, got, mid)
				}
			}
		}
		u := BGNBD{R: .5, Alpha: 5, A: 1, B: 2}.UnconditionalExpected(10)
		if !isFinite(u) || u <= 0 {
			t.Errorf("unconditional at a=1: %v", u)
		}
	})
	t.Run("a+b=1 with x=0", func(t *testing.T) {
		got := BGNBD{R: .11, Alpha: 2.24, A: .5, B: .5}.ConditionalExpected(30, Summary{T: 1})
		near := BGNBD{R: .11, Alpha: 2.24, A: .5, B: .5 + 1e-9}.ConditionalExpected(30, Summary{T: 1})
		if !isFinite(got) || got <= 0 || math.Abs(got-near) > 1e-6 {
			t.Errorf("got %v, near %v", got, near)
		}
	})
	t.Run("customer 1901 tiny P(alive)", func(t *testing.T) {
		s := Summary{X: 21, Tx: 4.71, T: 29.29}
		p := cdnowBG.PAlive(s)
		if !(p > 0) || !relClose(p, 2.49e-11, 3) {
			t.Errorf("P(alive) = %v, want 2.49e-11", p)
		}
	})
}

func TestFitBGNBD_Degenerate(t *testing.T) {
	tests := []struct {
		name string
		ss   []Summary
	}{
		{"empty", nil},
		{"no repeat buyers", []Summary{{T: 10}, {T: 20}, {T: 5}}},
		{"invalid", []Summary{{X: 1, Tx: 5, T: 2}}},
		{"nan", []Summary{{X: math.NaN(), T: 2}}},
		{"all zero ages", []Summary{{X: 0, T: 0}, {X: 0, T: 0}}},
		{"single repeat pattern", []Summary{{X: 1, Tx: 1, T: 1}, {X: 1, Tx: 1, T: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := FitBGNBD(tt.ss)
			if err == nil {
				t.Fatal("want error")
			}
			if !errors.Is(err, ErrInsufficientData) && !errors.Is(err, ErrDegenerateFit) {
				t.Errorf("error %v is neither ErrInsufficientData nor ErrDegenerateFit", err)
			}
		})
	}
}

// The Newton fit's analytic Hessian of the BG/NBD and MBG/NBD objective
// agrees with central differences of the analytic gradient, at the
// optimum's neighbourhood and far from it.
func TestBGObjective_HessianMatchesDifferences(t *testing.T) {
	ss, _ := simulateBG(rand.New(rand.NewPCG(3, 4)), BGNBD{R: 0.25, Alpha: 4, A: 0.8, B: 2.5}, GammaGamma{P: 6, Q: 4, Gamma: 15}, 800, 0)
	p, err := condense(ss)
	if err != nil {
		t.Fatal(err)
	}
	for _, modified := range []bool{false, true} {
		obj := bgObjectiveHess(p, modified)
		for _, theta := range [][]float64{
			{math.Log(0.25), math.Log(4), math.Log(0.8), math.Log(2.5)},
			{math.Log(2), math.Log(30), math.Log(0.05), math.Log(40)},
		} {
			g, h := make([]float64, 4), make([]float64, 16)
			obj(theta, g, h)
			num := hessianFromGrad(func(th, gg []float64) { obj(th, gg, nil) }, theta)
			for i := range 4 {
				for j := range 4 {
					if d := math.Abs(num[i][j] - h[i*4+j]); d > 1e-5*math.Max(1, math.Abs(num[i][j])) {
						t.Errorf("modified=%v θ=%.3g H[%d][%d]: analytic %.9g, differences %.9g", modified, theta, i, j, h[i*4+j], num[i][j])
					}
				}
			}
		}
	}
}
