package clv

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// MBGCNBD is the MBG/CNBD-k purchase model (Reutterer, Platzer & Schröder
// 2021, "Leveraging purchase regularity for predicting customer behavior
// the easy way"; BTYDplus's mbgcnbd.*): the MBG/NBD with Erlang-k
// inter-purchase times instead of exponential ones. With k = 1 it is the
// MBG/NBD; a larger k means customers who reorder on a rhythm (B2B,
// replenishment), so a silence longer than a customer's rhythm lowers
// P(alive) sooner than under the MBG/NBD. The likelihood needs each
// customer's Summary.LogITT to compare values of k.
type MBGCNBD struct {
	K              int
	R, Alpha, A, B float64
}

var _ PurchaseModel = MBGCNBD{}

// maxCNBDK is the largest regularity k a fit tries (BTYDplus: 12).
const maxCNBDK = 12

// Name returns "mbgcnbdk".
func (m MBGCNBD) Name() string { return ModelMBGCNBD }

// Params returns k, r, alpha, a and b.
func (m MBGCNBD) Params() map[string]float64 {
	return map[string]float64{"k": float64(m.K), "r": m.R, "alpha": m.Alpha, "a": m.A, "b": m.B}
}

func (m MBGCNBD) k() int { return max(m.K, 1) }

// logS1S2 returns the log of the likelihood's two terms (BTYDplus
// xbgcnbd.LL with dropout at zero): S1 = a/(b+x)·((α+T)/(α+t_x))^(r+kx),
// the customer dropped out after the last purchase, and S2 = 1 + Σ_{0<j<k}
// Γ(r+kx+j)/Γ(r+kx)·(T−t_x)^j/(j!·(α+T)^j), alive without a purchase since.
// The log of each summand of S2 after the 1 is appended to terms, which is
// returned (patternGrad differentiates them; other callers pass nil and
// ignore it). A slice passed and returned, not a pointer to one, lets
// patternGrad's buffer stay on its stack: as a pointer it moved to the
// heap, 96 bytes for every pattern at every step of the fit.
func (m MBGCNBD) logS1S2(x, tx, T float64, terms []float64) (float64, float64, []float64) {
	k := float64(m.k())
	rkx := m.R + k*x
	lat := math.Log(m.Alpha + T)
	lS1 := math.Log(m.A) - math.Log(m.B+x) + rkx*(lat-math.Log(m.Alpha+tx))
	lS2 := 0.0
	if gap := T - tx; gap > 0 && m.k() > 1 {
		lr := math.Log(gap) - lat
		term := 0.0
		for j := 1; j < m.k(); j++ {
			term += math.Log(rkx+float64(j)-1) + lr - math.Log(float64(j))
			lS2 = logAddExp(lS2, term)
			if terms != nil {
				terms = append(terms, term)
			}
		}
	}
	return lS1, lS2, terms
}

// logC is the part of a pattern's log-likelihood outside log(S1+S2),
// without the (k−1)·LogITT term, which does not depend on r, α, a, b.
func (m MBGCNBD) logC(x, T float64) float64 {
	k := float64(m.k())
	rkx := m.R + k*x
	return -x*lnGamma(k) +
		lnGamma(m.B+x+1) - lnGamma(m.B) + lnGamma(m.A+m.B) - lnGamma(m.A+m.B+x+1) +
		lnGamma(rkx) - lnGamma(m.R) + m.R*math.Log(m.Alpha) - rkx*math.Log(m.Alpha+T)
}

// patternLogLik is the log-likelihood of one (x, t_x, T) without the
// (k−1)·LogITT term.
func (m MBGCNBD) patternLogLik(x, tx, T float64) float64 {
	lS1, lS2, _ := m.logS1S2(x, tx, T, nil)
	return m.logC(x, T) + logAddExp(lS1, lS2)
}

// LogLikelihood returns the customer's log-likelihood.
func (m MBGCNBD) LogLikelihood(s Summary) float64 {
	return float64(m.k()-1)*s.LogITT + m.patternLogLik(s.X, s.Tx, s.T)
}

// PAlive returns 1/(1 + S1/S2) (BTYDplus xbgcnbd.PAlive).
func (m MBGCNBD) PAlive(s Summary) float64 {
	lS1, lS2, _ := m.logS1S2(s.X, s.Tx, s.T, nil)
	return expitNeg(lS1 - lS2)
}

// ConditionalExpected returns E[Y(t) | x, t_x, T] by BTYDplus's
// approximation: the MBG/NBD's expression with α+T replaced by kα+T (the
// purchase rate of Erlang-k gaps is λ/k), times this model's P(alive).
// BTYDplus rescales a whole cohort's predictions by its exact
// unconditional expectation; a single customer's prediction cannot be, so
// the model tournament's holdout score is what tells whether it predicts
// well on a portal.
func (m MBGCNBD) ConditionalExpected(t float64, s Summary) float64 {
	v, _ := m.conditionalExpectedOK(t, s)
	return v
}

func (m MBGCNBD) conditionalExpectedOK(t float64, s Summary) (float64, bool) {
	if t <= 0 {
		return 0, true
	}
	ka := float64(m.k()) * m.Alpha
	L := math.Log(ka+s.T) - math.Log(ka+s.T+t)
	v, ok := bgBracketOK(m.A+m.B-m.R, m.A-1, m.A+m.B+s.X, L)
	return clampNonNeg(v * m.PAlive(s)), ok
}

// UnconditionalExpected returns E[X(t)] for a new customer by the same
// approximation.
func (m MBGCNBD) UnconditionalExpected(t float64) float64 {
	return m.ConditionalExpected(t, Summary{})
}

// patternGrad adds w times the gradient of patternLogLik in θ = (ln r,
// ln α, ln a, ln b) to g and returns w times the log-likelihood.
func (m MBGCNBD) patternGrad(x, tx, T, w float64, g []float64) float64 {
	k := float64(m.k())
	r, alpha, a, b := m.R, m.Alpha, m.A, m.B
	rkx := r + k*x
	lat, latx := math.Log(alpha+T), math.Log(alpha+tx)
	psiAB, psiABX := mathext.Digamma(a+b), mathext.Digamma(a+b+x+1)
	dc := [4]float64{
		mathext.Digamma(rkx) - mathext.Digamma(r) + math.Log(alpha) - lat,
		r/alpha - rkx/(alpha+T),
		psiAB - psiABX,
		mathext.Digamma(b+x+1) - mathext.Digamma(b) + psiAB - psiABX,
	}
	var buf [maxCNBDK]float64
	lS1, lS2, terms := m.logS1S2(x, tx, T, buf[:0])
	dS1 := [4]float64{lat - latx, rkx * (1/(alpha+T) - 1/(alpha+tx)), 1 / a, -1 / (b + x)}
	// The derivatives of log S2 in r and α: each summand's share of S2
	// times its own log-derivative.
	var dS2r, dS2a, inv float64
	for j, lt := range terms {
		share := math.Exp(lt - lS2)
		inv += 1 / (rkx + float64(j))
		dS2r += share * inv
		dS2a -= share * float64(j+1) / (alpha + T)
	}
	w1 := expitNeg(lS2 - lS1) // S1/(S1+S2)
	dS2 := [4]float64{dS2r, dS2a, 0, 0}
	scale := [4]float64{r, alpha, a, b}
	for i := range 4 {
		g[i] += w * scale[i] * (dc[i] + w1*dS1[i] + (1-w1)*dS2[i])
	}
	return w * (m.logC(x, T) + logAddExp(lS1, lS2))
}

// cnbdObjective is the mean negative log-likelihood over condensed patterns
// for a fixed k, in θ = (ln r, ln α, ln a, ln b), without the LogITT term,
// with its analytic gradient.
func cnbdObjective(ctx context.Context, p *patterns, k int) objective {
	return func(theta, grad []float64) float64 {
		for _, v := range theta {
			if math.Abs(v) > 25 {
				return math.Inf(1)
			}
		}
		m := MBGCNBD{K: k, R: math.Exp(theta[0]), Alpha: math.Exp(theta[1]), A: math.Exp(theta[2]), B: math.Exp(theta[3])}
		acc := make([]float64, 5)
		parallelSum(len(p.w), acc, func(lo, hi int, acc []float64) {
			for j := lo; j < hi; j++ {
				if j%256 == 0 && ctx.Err() != nil {
					acc[0] = math.Inf(-1)
					return
				}
				acc[0] += m.patternGrad(p.x[j], p.tx[j], p.t[j], p.w[j], acc[1:])
			}
		})
		v := -acc[0] / p.total
		if !isFinite(v) {
			return math.Inf(1)
		}
		for i := range grad {
			grad[i] = -acc[i+1] / p.total
		}
		return v
	}
}

// fitMBGCNBDContext fits r, α, a, b for k = 1, 2, ... (up to 12, stopping
// once the log-likelihood fell twice in a row, as BTYDplus does) and keeps
// the k with the highest log-likelihood, LogITT included. Without
// inter-purchase times (every repeat buyer's LogITT is 0, as in a summary
// CSV) values of k cannot be compared and only k = 1 is fitted.
func fitMBGCNBDContext(ctx context.Context, summaries []Summary) (MBGCNBD, float64, error) {
	p, err := condenseFit(summaries)
	if err != nil {
		return MBGCNBD{}, 0, fmt.Errorf("mbgcnbdk: %w", err)
	}
	sumLITT, haveLITT := 0.0, false
	for _, s := range summaries {
		if s.X > 0 && isFinite(s.LogITT) {
			sumLITT += s.LogITT
			haveLITT = haveLITT || s.LogITT != 0
		}
	}
	maxK := maxCNBDK
	if !haveLITT {
		maxK = 1
	}
	var best MBGCNBD
	bestLL := math.Inf(-1)
	var lls []float64
	var firstErr error
	starts := bgStarts(p)
	for k := 1; k <= maxK; k++ {
		if err := ctx.Err(); err != nil {
			return MBGCNBD{}, 0, fmt.Errorf("mbgcnbdk: %w", canceled(ctx))
		}
		theta, f, err := minimizeBFGS(ctx, cnbdObjective(ctx, p, k), starts)
		if err == nil {
			err = checkInterior([]string{"r", "alpha", "a", "b"}, theta)
		}
		if err != nil {
			if ctx.Err() != nil {
				return MBGCNBD{}, 0, fmt.Errorf("mbgcnbdk: %w", canceled(ctx))
			}
			if firstErr == nil {
				firstErr = fmt.Errorf("k=%d: %w", k, err)
			}
			break // BTYDplus stops at the first k it cannot fit
		}
		ll := -f*p.total + float64(k-1)*sumLITT
		lls = append(lls, ll)
		if ll > bestLL {
			bestLL = ll
			best = MBGCNBD{K: k, R: math.Exp(theta[0]), Alpha: math.Exp(theta[1]), A: math.Exp(theta[2]), B: math.Exp(theta[3])}
		}
		// The next k starts from this optimum, scaled: with k times more
		// events per purchase, α and r grow about k-fold.
		starts = [][]float64{{theta[0] + math.Log(float64(k+1)/float64(k)), theta[1], theta[2], theta[3]}, bgStarts(p)[0]}
		if n := len(lls); n >= 3 && lls[n-1] < lls[n-2] && lls[n-2] < lls[n-3] {
			break
		}
	}
	if math.IsInf(bestLL, -1) {
		return MBGCNBD{}, 0, fmt.Errorf("mbgcnbdk: %w", firstErr)
	}
	return best, bestLL, nil
}
