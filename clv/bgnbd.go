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

// bgObjective returns the mean negative log-likelihood of the BG/NBD or
// MBG/NBD over condensed patterns, in θ = (ln r, ln α, ln a, ln b), with its
// analytic gradient.
func bgObjective(p *patterns, modified bool) objective {
	f := bgObjectiveHess(p, modified)
	return func(theta, grad []float64) float64 { return f(theta, grad, nil) }
}

// bgObjectiveHess is bgObjective that also fills hess (row-major 4x4, in θ)
// when it is not nil: the Newton fit's analytic Hessian. Per row the
// likelihood is ln(e^A + e^B), whose Hessian is pA∇²A + pB∇²B +
// pA·pB·(∇A−∇B)(∇A−∇B)ᵀ with pA = e^A/(e^A+e^B); the parts that depend on x
// alone take trigammas once per distinct x.
func bgObjectiveHess(p *patterns, modified bool) func(theta, grad, hess []float64) float64 {
	nx, nt, ntx := len(p.ux), len(p.ut), len(p.utx)
	lb := make([]float64, nx)
	ib := make([]float64, nx)
	lT, iT := make([]float64, nt), make([]float64, nt)
	lTx, iTx := make([]float64, ntx), make([]float64, ntx)
	shift := 0.0
	if modified {
		shift = 1
	}
	return func(theta, grad, hess []float64) float64 {
		r, alpha, a, b := math.Exp(theta[0]), math.Exp(theta[1]), math.Exp(theta[2]), math.Exp(theta[3])
		la := math.Log(alpha)
		psiR, psiB, psiAB := mathext.Digamma(r), mathext.Digamma(b), mathext.Digamma(a+b)
		lgR, lgB, lgAB := lnGamma(r), lnGamma(b), lnGamma(a+b)
		var ll, gr, ga, gA, gB float64
		var h [4][4]float64 // raw-parameter Hessian of the total log-likelihood
		var triR, triB, triAB float64
		if hess != nil {
			triR, triB, triAB = trigamma(r), trigamma(b), trigamma(a+b)
		}
		for i, x := range p.ux {
			w := p.wx[i]
			c := lnGamma(r+x) - lgR + r*la + lnGamma(b+x+shift) - lgB + lgAB - lnGamma(a+b+x+shift)
			ll += w * c
			psiABX := mathext.Digamma(a + b + x + shift)
			gr += w * (mathext.Digamma(r+x) - psiR + la)
			ga += w * r / alpha
			gA += w * (psiAB - psiABX)
			gB += w * (mathext.Digamma(b+x+shift) - psiB + psiAB - psiABX)
			if hess != nil {
				triABX := trigamma(a + b + x + shift)
				h[0][0] += w * (trigamma(r+x) - triR)
				h[0][1] += w / alpha
				h[1][1] -= w * r / (alpha * alpha)
				h[2][2] += w * (triAB - triABX)
				h[2][3] += w * (triAB - triABX)
				h[3][3] += w * (trigamma(b+x+shift) - triB + triAB - triABX)
			}
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
		// acc: ll, r, α, a, b sums; with hess also rα, αα, bb and the
		// outer products' q-weighted sums (q = w·pA·pB, d = ∇A−∇B).
		const nacc = 5 + 3 + 10
		acc := make([]float64, nacc)
		parallelSum(len(p.w), acc, func(lo, hi int, acc []float64) {
			var sll, sr, sa, sA, sB float64
			var sRA, sAA, sBB, q, qd0, qd1, qd3, q00, q01, q03, q11, q13, q33 float64
			for j := lo; j < hi; j++ {
				x, w := p.x[j], p.w[j]
				xi, ti, txi := p.xi[j], p.ti[j], p.txi[j]
				rx := r + x
				A := -rx * lT[ti]
				if math.IsInf(lb[xi], -1) {
					sll += w * A
					sr -= w * lT[ti]
					sa -= w * rx * iT[ti]
					if hess != nil {
						sRA -= w * iT[ti]
						sAA += w * rx * iT[ti] * iT[ti]
					}
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
				if hess != nil {
					it, itx, ibx := iT[ti], iTx[txi], ib[xi]
					sRA -= w * (pA*it + pB*itx)
					sAA += w * rx * (pA*it*it + pB*itx*itx)
					sBB += w * pB * ibx * ibx
					qq := w * pA * pB
					d0, d1, d3 := lTx[txi]-lT[ti], rx*(itx-it), ibx
					q += qq
					qd0 += qq * d0
					qd1 += qq * d1
					qd3 += qq * d3
					q00 += qq * d0 * d0
					q01 += qq * d0 * d1
					q03 += qq * d0 * d3
					q11 += qq * d1 * d1
					q13 += qq * d1 * d3
					q33 += qq * d3 * d3
				}
			}
			for k, v := range [nacc]float64{sll, sr, sa, sA, sB, sRA, sAA, sBB, q, qd0, qd1, qd3, q00, q01, q03, q11, q13, q33} {
				acc[k] += v
			}
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
		if hess != nil {
			// d = (d0, d1, −1/a, d3): the a-entries of the outer
			// products come from the q-weighted sums.
			sRA, sAA, sBB := acc[5], acc[6], acc[7]
			q, qd0, qd1, qd3 := acc[8], acc[9], acc[10], acc[11]
			h[0][0] += acc[12]
			h[0][1] += sRA + acc[13]
			h[0][2] -= qd0 / a
			h[0][3] += acc[14]
			h[1][1] += sAA + acc[15]
			h[1][2] -= qd1 / a
			h[1][3] += acc[16]
			h[2][2] += -acc[3]/(a*a) + q/(a*a)
			h[2][3] -= qd3 / a
			h[3][3] += sBB + acc[17]
			phi := [4]float64{r, alpha, a, b}
			g := [4]float64{gr, ga, gA, gB}
			for i := range 4 {
				for j := i; j < 4; j++ {
					v := -phi[i] * phi[j] * h[i][j] / n
					if i == j {
						v -= phi[i] * g[i] / n
					}
					hess[i*4+j], hess[j*4+i] = v, v
				}
			}
		}
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
	// Newton steps on the analytic Hessian reach the optimum in a handful
	// of evaluations; BFGS from several starts is the fallback when they
	// do not (a start where the likelihood is flat or not concave).
	starts := bgStarts(p)
	theta, f, err := minimizeNewton(ctx, 4, bgObjectiveHess(p, modified), starts[0])
	if err != nil && ctx.Err() == nil {
		theta, f, err = minimizeBFGS(ctx, bgObjective(p, modified), starts)
	}
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
