package clv

import (
	"fmt"
	"math"
)

// MBGNBD is the MBG/NBD purchase model (Batislam, Denizel & Filiztekin
// 2007): the BG/NBD with a possible drop-out at time 0 as well, so P(alive)
// is below 1 even for customers without repeat purchases.
type MBGNBD struct {
	R, Alpha, A, B float64
}

var _ PurchaseModel = MBGNBD{}

// Name returns "mbgnbd".
func (m MBGNBD) Name() string { return ModelMBGNBD }

// Params returns r, alpha, a and b.
func (m MBGNBD) Params() map[string]float64 {
	return map[string]float64{"r": m.R, "alpha": m.Alpha, "a": m.A, "b": m.B}
}

// LogLikelihood returns the customer's log-likelihood.
func (m MBGNBD) LogLikelihood(s Summary) float64 {
	return bgLogLik(m.R, m.Alpha, m.A, m.B, s.X, s.Tx, s.T, true)
}

// PAlive returns 1/(1 + a/(b+x)·((α+T)/(α+t_x))^(r+x)), evaluated as expit(−Z).
func (m MBGNBD) PAlive(s Summary) float64 {
	z := math.Log(m.A) - math.Log(m.B+s.X) + (m.R+s.X)*(math.Log(m.Alpha+s.T)-math.Log(m.Alpha+s.Tx))
	return expitNeg(z)
}

// ConditionalExpected returns E[Y(t) | x, t_x, T] in the Euler-transformed
// form 1 − u^(a−1)·2F1(a+b−r, a−1; a+b+x; z).
func (m MBGNBD) ConditionalExpected(t float64, s Summary) float64 {
	v, _ := m.conditionalExpectedOK(t, s)
	return v
}

func (m MBGNBD) conditionalExpectedOK(t float64, s Summary) (float64, bool) {
	if t <= 0 {
		return 0, true
	}
	L := math.Log(m.Alpha+s.T) - math.Log(m.Alpha+s.T+t)
	v, ok := bgBracketOK(m.A+m.B-m.R, m.A-1, m.A+m.B+s.X, L)
	return clampNonNeg(v * m.PAlive(s)), ok
}

// UnconditionalExpected returns E[X(t)] for a new customer:
// b/(a−1)·[1 − (α/(α+t))^r · 2F1(r, b+1; a+b; t/(α+t))].
func (m MBGNBD) UnconditionalExpected(t float64) float64 {
	return m.ConditionalExpected(t, Summary{})
}

// FitMBGNBD fits an MBG/NBD model by maximum likelihood and returns it with
// the total log-likelihood.
func FitMBGNBD(summaries []Summary) (MBGNBD, float64, error) {
	v, ll, err := fitBGFamily(summaries, true)
	if err != nil {
		return MBGNBD{}, 0, fmt.Errorf("mbgnbd: %w", err)
	}
	return MBGNBD{R: v[0], Alpha: v[1], A: v[2], B: v[3]}, ll, nil
}
