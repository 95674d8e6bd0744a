package clv

import (
	"math"
	"testing"
)

func TestFitMBGNBD_CDNOW(t *testing.T) {
	_, ss := cdnowSummaryByID(t)
	m, ll, err := FitMBGNBD(ss)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"r", m.R, 0.524838}, {"alpha", m.Alpha, 6.182988}, {"a", m.A, 0.891356}, {"b", m.B, 1.614000},
	} {
		checkSig(t, c.name, c.got, c.want, 3)
	}
	checkSig(t, "LL", ll, -9582.1327, 6)
}

func TestMBGNBD_Methods(t *testing.T) {
	m := MBGNBD{R: 0.524838, Alpha: 6.182988, A: 0.891356, B: 1.614000}
	t.Run("P(alive) below 1 at x=0", func(t *testing.T) {
		p := m.PAlive(Summary{}) // a new customer: b/(a+b)
		if want := 1 / (1 + m.A/m.B); math.Abs(p-want) > 1e-12 {
			t.Errorf("P(alive) = %v, want %v", p, want)
		}
	})
	t.Run("unconditional equals lifetimes closed form", func(t *testing.T) {
		for _, tt := range []float64{1, 10, 39, 78} {
			// b/(a−1)·[1 − (α/(α+t))^r 2F1(r, b+1; a+b; t/(α+t))] by direct series.
			f, ok := hyp2f1(m.R, m.B+1, m.A+m.B, tt/(m.Alpha+tt))
			if !ok {
				t.Fatal("series")
			}
			want := m.B / (m.A - 1) * (1 - math.Pow(m.Alpha/(m.Alpha+tt), m.R)*f)
			checkSig(t, "E[X(t)]", m.UnconditionalExpected(tt), want, 10)
		}
	})
	t.Run("conditional equals raw form", func(t *testing.T) {
		s := Summary{X: 2, Tx: 30.43, T: 38.86}
		tt := 39.0
		f, _ := hyp2f1(m.R+s.X, m.B+s.X+1, m.A+m.B+s.X, tt/(m.Alpha+s.T+tt))
		want := (m.A + m.B + s.X) / (m.A - 1) * (1 - f*math.Pow((m.Alpha+s.T)/(m.Alpha+s.T+tt), m.R+s.X)) /
			(1 + m.A/(m.B+s.X)*math.Pow((m.Alpha+s.T)/(m.Alpha+s.Tx), m.R+s.X))
		checkSig(t, "E[Y]", m.ConditionalExpected(tt, s), want, 10)
	})
}
