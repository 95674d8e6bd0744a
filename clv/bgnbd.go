package clv

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// BGNBD is the BG/NBD purchase model (Fader, Hardie & Lee 2005): purchase
// rate λ ~ Gamma(R, Alpha) while alive, drop-out probability p ~ Beta(A, B)
// after each repeat purchase.
type BGNBD struct {
	R, Alpha, A, B float64
}

var _ PurchaseModel = BGNBD{}

// Name returns "bgnbd".
func (m BGNBD) Name() string { return ModelBGNBD }

// Params returns r, alpha, a and b.
func (m BGNBD) Params() map[string]float64 {
	return map[string]float64{"r": m.R, "alpha": m.Alpha, "a": m.A, "b": m.B}
}

// LogLikelihood returns the customer's log-likelihood, computed in the log
// domain with logaddexp so that it is finite for any x.
func (m BGNBD) LogLikelihood(s Summary) float64 {
	return bgLogLik(m.R, m.Alpha, m.A, m.B, s.X, s.Tx, s.T, false)
}

// PAlive returns P(alive at T | x, t_x, T) = expit(−Z); 1 when x = 0.
func (m BGNBD) PAlive(s Summary) float64 {
	if s.X == 0 {
		return 1
	}
	z := math.Log(m.A) - math.Log(m.B+s.X-1) + (m.R+s.X)*(math.Log(m.Alpha+s.T)-math.Log(m.Alpha+s.Tx))
	return expitNeg(z)
}

// ConditionalExpected returns E[Y(t) | x, t_x, T], using the Euler-transformed
// hypergeometric form (finite for any x, for a = 1 and for a+b+x−1 ≤ 0).
// When the series does not converge (t ≫ α+T) the value is a partial sum;
// Fitted.Predict flags it with FlagNotConverged.
func (m BGNBD) ConditionalExpected(t float64, s Summary) float64 {
	v, _ := m.conditionalExpectedOK(t, s)
	return v
}

func (m BGNBD) conditionalExpectedOK(t float64, s Summary) (float64, bool) {
	if t <= 0 {
		return 0, true
	}
	L := math.Log(m.Alpha+s.T) - math.Log(m.Alpha+s.T+t)
	v, ok := bgBracketOK(m.A+m.B-1-m.R, m.A-1, m.A+m.B+s.X-1, L)
	return clampNonNeg(v * m.PAlive(s)), ok
}

// UnconditionalExpected returns E[X(t)] for a new customer.
func (m BGNBD) UnconditionalExpected(t float64) float64 {
	return m.ConditionalExpected(t, Summary{})
}

// expitNeg returns 1/(1+e^z) without overflow.
func expitNeg(z float64) float64 {
	if z >= 0 {
		e := math.Exp(-z)
		return e / (1 + e)
	}
	return 1 / (1 + math.Exp(z))
}

// logAddExp returns ln(e^a + e^b) without overflow.
func logAddExp(a, b float64) float64 {
	if a < b {
		a, b = b, a
	}
	if math.IsInf(b, -1) {
		return a
	}
	return a + math.Log1p(math.Exp(b-a))
}

func clampNonNeg(v float64) float64 {
	if !(v > 0) || math.IsInf(v, 0) { // also catches NaN
		if math.IsInf(v, 1) {
			return math.MaxFloat64
		}
		return 0
	}
	return v
}

func lnGamma(x float64) float64 {
	v, _ := math.Lgamma(x)
	return v
}

// bgLogLik is the per-customer BG/NBD (modified = false) or MBG/NBD
// (modified = true) log-likelihood.
func bgLogLik(r, alpha, a, b, x, tx, T float64, modified bool) float64 {
	shift := 0.0
	if modified {
		shift = 1
	}
	c := lnGamma(r+x) - lnGamma(r) + r*math.Log(alpha) +
		lnGamma(b+x+shift) - lnGamma(b) + lnGamma(a+b) - lnGamma(a+b+x+shift)
	A := -(r + x) * math.Log(alpha+T)
	if x == 0 && !modified {
		return c + A
	}
	B := math.Log(a) - math.Log(b+x-1+shift) - (r+x)*math.Log(alpha+tx)
	return c + logAddExp(A, B)
}

// bgObjective returns the mean negative log-likelihood of the BG/NBD or
// MBG/NBD over condensed patterns, in θ = (ln r, ln α, ln a, ln b), with its
// analytic gradient.
// log1pUnit is ln(1+e) for e in [0, 1], the likelihood's inner loop's
// log-sum-exp: math.Log1p has no assembly and was a third of a BG/NBD fit.
// Above 1e-4, ln(1+e) through the assembly math.Log loses nothing that
// matters (an absolute error near 1e-16); below, three series terms are
// exact to e⁴/4 < 3e-17.
func log1pUnit(e float64) float64 {
	if e < 1e-4 {
		return e * (1 - e*(0.5-e/3))
	}
	return math.Log(1 + e)
}

func bgObjective(p *patterns, modified bool) objective {
	nx, nt, ntx := len(p.ux), len(p.ut), len(p.utx)
	lb := make([]float64, nx)
	ib := make([]float64, nx)
	lT, iT := make([]float64, nt), make([]float64, nt)
	lTx, iTx := make([]float64, ntx), make([]float64, ntx)
	shift := 0.0
	if modified {
		shift = 1
	}
	return func(theta, grad []float64) float64 {
		r, alpha, a, b := math.Exp(theta[0]), math.Exp(theta[1]), math.Exp(theta[2]), math.Exp(theta[3])
		la := math.Log(alpha)
		psiR, psiB, psiAB := mathext.Digamma(r), mathext.Digamma(b), mathext.Digamma(a+b)
		lgR, lgB, lgAB := lnGamma(r), lnGamma(b), lnGamma(a+b)
		var ll, gr, ga, gA, gB float64
		for i, x := range p.ux {
			w := p.wx[i]
			c := lnGamma(r+x) - lgR + r*la + lnGamma(b+x+shift) - lgB + lgAB - lnGamma(a+b+x+shift)
			ll += w * c
			psiABX := mathext.Digamma(a + b + x + shift)
			gr += w * (mathext.Digamma(r+x) - psiR + la)
			ga += w * r / alpha
			gA += w * (psiAB - psiABX)
			gB += w * (mathext.Digamma(b+x+shift) - psiB + psiAB - psiABX)
			if x > 0 || modified {
				lb[i] = math.Log(a) - math.Log(b+x-1+shift)
				ib[i] = 1 / (b + x - 1 + shift)
			} else {
				lb[i] = math.Inf(-1)
			}
		}
		for i, t := range p.ut {
			lT[i], iT[i] = math.Log(alpha+t), 1/(alpha+t)
		}
		for i, t := range p.utx {
			lTx[i], iTx[i] = math.Log(alpha+t), 1/(alpha+t)
		}
		acc := make([]float64, 5)
		parallelSum(len(p.w), acc, func(lo, hi int, acc []float64) {
			var sll, sr, sa, sA, sB float64
			for j := lo; j < hi; j++ {
				x, w := p.x[j], p.w[j]
				xi, ti, txi := p.xi[j], p.ti[j], p.txi[j]
				rx := r + x
				A := -rx * lT[ti]
				if math.IsInf(lb[xi], -1) {
					sll += w * A
					sr -= w * lT[ti]
					sa -= w * rx * iT[ti]
					continue
				}
				B := lb[xi] - rx*lTx[txi]
				var l, pA float64
				if A >= B {
					e := math.Exp(B - A)
					l = A + log1pUnit(e)
					pA = 1 / (1 + e)
				} else {
					e := math.Exp(A - B)
					l = B + log1pUnit(e)
					pA = e / (1 + e)
				}
				pB := 1 - pA
				sll += w * l
				sr -= w * (pA*lT[ti] + pB*lTx[txi])
				sa -= w * rx * (pA*iT[ti] + pB*iTx[txi])
				sA += w * pB
				sB -= w * pB * ib[xi]
			}
			acc[0] += sll
			acc[1] += sr
			acc[2] += sa
			acc[3] += sA
			acc[4] += sB
		})
		ll += acc[0]
		gr += acc[1]
		ga += acc[2]
		gA += acc[3] / a
		gB += acc[4]
		n := p.total
		grad[0] = -gr * r / n
		grad[1] = -ga * alpha / n
		grad[2] = -gA * a / n
		grad[3] = -gB * b / n
		return -ll / n
	}
}

// bgStarts returns starting points in log-parameter space, scaled by the
// data's time span so that the fit does not depend on the time unit.
func bgStarts(p *patterns) [][]float64 {
	scale := math.Log(max(p.maxT, 1e-9))
	return [][]float64{
		{0, scale - math.Log(10), 0, 0},
		{math.Log(0.5), scale, math.Log(0.5), math.Log(2)},
		{math.Log(2), scale - math.Log(100), math.Log(2), math.Log(5)},
	}
}

func fitBGFamily(summaries []Summary, modified bool) ([4]float64, float64, error) {
	return fitBGFamilyContext(context.Background(), summaries, modified)
}

func fitBGFamilyContext(ctx context.Context, summaries []Summary, modified bool) ([4]float64, float64, error) {
	var out [4]float64
	p, err := condenseFit(summaries)
	if err != nil {
		return out, 0, err
	}
	theta, f, err := minimizeBFGS(ctx, bgObjective(p, modified), bgStarts(p))
	if err != nil {
		return out, 0, err
	}
	if err := checkInterior([]string{"r", "alpha", "a", "b"}, theta); err != nil {
		return out, 0, err
	}
	for i := range out {
		out[i] = math.Exp(theta[i])
	}
	return out, -f * p.total, nil
}

// FitBGNBD fits a BG/NBD model by maximum likelihood and returns it with the
// total log-likelihood. Summaries are condensed into unique (x, t_x, T)
// patterns first, so the cost grows with the number of patterns, not of
// customers.
func FitBGNBD(summaries []Summary) (BGNBD, float64, error) {
	v, ll, err := fitBGFamily(summaries, false)
	if err != nil {
		return BGNBD{}, 0, fmt.Errorf("bgnbd: %w", err)
	}
	return BGNBD{R: v[0], Alpha: v[1], A: v[2], B: v[3]}, ll, nil
}
