package clv

import (
	"math"
	"testing"
)

var cdnowPareto = ParetoNBD{R: 0.553282, Alpha: 10.577753, S: 0.606171, Beta: 11.666907}

func TestFitParetoNBD_CDNOW(t *testing.T) {
	_, ss := cdnowSummaryByID(t)
	m, ll, err := FitParetoNBD(ss)
	if err != nil {
		t.Fatal(err)
	}
	checkSig(t, "r", m.R, 0.553, 3)
	checkSig(t, "alpha", m.Alpha, 10.58, 3)
	checkSig(t, "s", m.S, 0.606, 3)
	checkSig(t, "beta", m.Beta, 11.67, 3)
	checkSig(t, "LL", ll, -9594.9739, 7)
}

func TestParetoNBD_Methods(t *testing.T) {
	t.Run("BTYD walkthrough E[Y(52)]", func(t *testing.T) {
		checkSig(t, "E[Y]", cdnowPareto.ConditionalExpected(52, Summary{X: 26, Tx: 30.86, T: 31}), 25.4568, 5)
		checkSig(t, "E[Y] published", cdnowPareto.ConditionalExpected(52, Summary{X: 26, Tx: 30.86, T: 31}), 25.46, 4)
	})
	t.Run("LL at lifetimes params", func(t *testing.T) {
		_, ss := cdnowSummaryByID(t)
		sum := 0.0
		for _, s := range ss {
			sum += cdnowPareto.LogLikelihood(s)
		}
		checkSig(t, "LL", sum, -9594.9739, 7)
	})
	t.Run("narrow interval matches quadrature and hypergeometric", func(t *testing.T) {
		// t_x just below T: the A0 difference cancels almost completely.
		for _, gap := range []float64{1e-12, 1e-6, 1e-3, 0.1, 1, 10} {
			s := Summary{X: 5, Tx: 30 - gap, T: 30}
			ll := cdnowPareto.LogLikelihood(s)
			p := cdnowPareto.PAlive(s)
			if !isFinite(ll) || !(p > 0 && p <= 1) {
				t.Errorf("gap %v: LL=%v P=%v", gap, ll, p)
			}
			q := logQuad(func(y float64) float64 {
				return -(cdnowPareto.R+5)*math.Log(cdnowPareto.Alpha+y) - (cdnowPareto.S+1)*math.Log(cdnowPareto.Beta+y)
			}, 30-gap, 30)
			h := paretoLogIntegral(cdnowPareto.R, cdnowPareto.Alpha, cdnowPareto.S, cdnowPareto.Beta, 5, 30-gap, 30)
			if math.Abs(q-h) > 1e-9 {
				t.Errorf("gap %v: ln I quadrature %v, hypergeometric %v", gap, q, h)
			}
		}
	})
	t.Run("alpha above beta branch", func(t *testing.T) {
		m := ParetoNBD{R: .5, Alpha: 20, S: .7, Beta: 5}
		s := Summary{X: 3, Tx: 10, T: 30}
		q := logQuad(func(y float64) float64 { return -(m.R+3)*math.Log(m.Alpha+y) - (m.S+1)*math.Log(m.Beta+y) }, 10, 30)
		if h := paretoLogIntegral(m.R, m.Alpha, m.S, m.Beta, 3, 10, 30); math.Abs(q-h) > 1e-9 {
			t.Errorf("ln I quadrature %v, hypergeometric %v", q, h)
		}
		if e := m.ConditionalExpected(52, s); !isFinite(e) || e <= 0 {
			t.Errorf("E[Y] = %v", e)
		}
	})
	t.Run("s = 1 limit", func(t *testing.T) {
		a := ParetoNBD{R: .5, Alpha: 10, S: 1, Beta: 10}.UnconditionalExpected(20)
		b := ParetoNBD{R: .5, Alpha: 10, S: 1 + 1e-9, Beta: 10}.UnconditionalExpected(20)
		if !isFinite(a) || math.Abs(a-b) > 1e-7 {
			t.Errorf("s=1: %v vs %v", a, b)
		}
	})
	t.Run("large x", func(t *testing.T) {
		for _, x := range []float64{600, 3000} {
			s := Summary{X: x, Tx: 20, T: 38}
			if ll, e := cdnowPareto.LogLikelihood(s), cdnowPareto.ConditionalExpected(52, s); !isFinite(ll) || !isFinite(e) || e < 0 {
				t.Errorf("x=%v: LL=%v E=%v", x, ll, e)
			}
		}
	})
}
