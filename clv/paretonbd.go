package clv

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/optimize"
)

// ParetoNBD is the Pareto/NBD purchase model (Schmittlein, Morrison &
// Colombo 1987): purchase rate λ ~ Gamma(R, Alpha) and exponential lifetime
// with drop-out rate μ ~ Gamma(S, Beta).
type ParetoNBD struct {
	R, Alpha, S, Beta float64
}

var _ PurchaseModel = ParetoNBD{}

// Name returns "paretonbd".
func (m ParetoNBD) Name() string { return ModelParetoNBD }

// Params returns r, alpha, s and beta.
func (m ParetoNBD) Params() map[string]float64 {
	return map[string]float64{"r": m.R, "alpha": m.Alpha, "s": m.S, "beta": m.Beta}
}

// parts returns the two log terms of the likelihood bracket, the "alive at T"
// term ln[(α+T)^−(r+x) (β+T)^−s] and ln(s·I), and the common log factor.
func (m ParetoNBD) parts(x, tx, T float64) (alive, dead, common float64) {
	r, al, s, be := m.R, m.Alpha, m.S, m.Beta
	common = lnGamma(r+x) - lnGamma(r) + r*math.Log(al) + s*math.Log(be)
	alive = -(r+x)*math.Log(al+T) - s*math.Log(be+T)
	dead = math.Log(s) + paretoLogIntegral(r, al, s, be, x, tx, T)
	return alive, dead, common
}

// LogLikelihood returns the customer's log-likelihood,
// ln Γ(r+x)α^rβ^s/Γ(r) + logaddexp(alive, ln s + ln I).
func (m ParetoNBD) LogLikelihood(s Summary) float64 {
	alive, dead, common := m.parts(s.X, s.Tx, s.T)
	return common + logAddExp(alive, dead)
}

// PAlive returns the probability that the customer is alive at T.
func (m ParetoNBD) PAlive(s Summary) float64 {
	alive, dead, _ := m.parts(s.X, s.Tx, s.T)
	if math.IsInf(dead, -1) {
		return 1
	}
	return expitNeg(dead - alive)
}

// ConditionalExpected returns E[Y(t) | x, t_x, T] =
// P(alive)·(r+x)(β+T)/((α+T)(s−1))·[1 − ((β+T)/(β+T+t))^(s−1)], with the
// s = 1 limit handled through expm1.
func (m ParetoNBD) ConditionalExpected(t float64, s Summary) float64 {
	if t <= 0 {
		return 0
	}
	v := m.PAlive(s) * (m.R + s.X) / (m.Alpha + s.T) * paretoTail(m.S, m.Beta+s.T, t)
	return clampNonNeg(v)
}

// UnconditionalExpected returns E[X(t)] = rβ/(α(s−1))·[1 − (β/(β+t))^(s−1)].
func (m ParetoNBD) UnconditionalExpected(t float64) float64 {
	if t <= 0 {
		return 0
	}
	return clampNonNeg(m.R / m.Alpha * paretoTail(m.S, m.Beta, t))
}

// paretoTail returns c/(s−1)·[1 − (c/(c+t))^(s−1)], → c·ln((c+t)/c) at s = 1.
func paretoTail(s, c, t float64) float64 {
	L := math.Log(c) - math.Log(c+t)
	if s == 1 {
		return -c * L
	}
	return -c * math.Expm1((s-1)*L) / (s - 1)
}

// Gauss-Legendre nodes and weights on [−1, 1] for the Pareto/NBD integral.
var glNodes, glWeights = gaussLegendre(10)

// gaussLegendre computes the n-point Gauss-Legendre rule by Newton iteration.
func gaussLegendre(n int) ([]float64, []float64) {
	x, w := make([]float64, n), make([]float64, n)
	for i := range (n + 1) / 2 {
		z := math.Cos(math.Pi * (float64(i) + 0.75) / (float64(n) + 0.5))
		var dp float64
		for range 100 {
			p0, p1 := 1.0, z
			for k := 2; k <= n; k++ {
				p0, p1 = p1, ((2*float64(k)-1)*z*p1-(float64(k)-1)*p0)/float64(k)
			}
			dp = float64(n) * (z*p1 - p0) / (z*z - 1)
			dz := p1 / dp
			z -= dz
			if math.Abs(dz) < 1e-16 {
				break
			}
		}
		x[i], x[n-1-i] = -z, z
		w[i] = 2 / ((1 - z*z) * dp * dp)
		w[n-1-i] = w[i]
	}
	return x, w
}

// paretoMaxZ is the largest argument for which paretoLogIntegral sums the
// hypergeometric series (at most a few hundred terms).
const paretoMaxZ = 0.9

// paretoLogIntegral returns ln I with
//
//	I = ∫_{t_x}^{T} (α+y)^−(r+x) (β+y)^−(s+1) dy,
//
// the "died in (t_x, T]" part of the likelihood (s·I = s/(r+s+x)·A0 in
// Fader & Hardie's note). A0 is a difference of two nearly equal tail
// integrals when T − t_x is small; there we integrate directly by
// Gauss-Legendre quadrature instead of subtracting, which removes the
// cancellation that makes lifetimes and CLVTools return NaN/Inf.
func paretoLogIntegral(r, alpha, s, beta, x, tx, T float64) float64 {
	if T <= tx {
		return math.Inf(-1)
	}
	M, m, b2 := alpha, beta, s+1
	if alpha < beta {
		M, m, b2 = beta, alpha, r+x
	}
	a2 := r + s + x
	// ln of the tail integral ∫_y^∞, via 2F1(a2, b2; a2+1; (M−m)/(M+y)).
	// The series needs about 40/(1−z) terms as z → 1 (200,000 near the
	// optimiser's extremes, 97 % of a Pareto/NBD fit's time); beyond
	// paretoMaxZ the quadrature below is cheaper and just as accurate.
	tail := func(y float64) (float64, bool) {
		z := (M - m) / (M + y)
		if z > paretoMaxZ {
			return 0, false
		}
		f, ok := hyp2f1(a2, b2, a2+1, z)
		if !ok || f <= 0 {
			return 0, false
		}
		return -a2*math.Log(M+y) + math.Log(f) - math.Log(a2), true
	}
	if jx, ok1 := tail(tx); ok1 {
		if jT, ok2 := tail(T); ok2 {
			if rho := math.Exp(jT - jx); rho < 0.9 {
				return jx + math.Log1p(-rho)
			}
		}
	}
	return logQuad(alpha, r+x, beta, s+1, tx, T)
}

// logQuad returns ln ∫_lo^hi (c1+y)^−p1 (c2+y)^−p2 dy for c1, c2 > −lo and
// p1, p2 >= 0 by composite 10-point Gauss-Legendre quadrature.
//
// Each panel starting at a is as wide as lets the log of the integrand
// change by at most 2 across it, w = 2 / (p1/(c1+a) + p2/(c2+a)) (the slope
// only falls with y), and at most half of u = min(c1, c2) + a, so panels grow
// geometrically; the rule is then accurate to about 1e-13 relative (checked
// against the hypergeometric series in the tests). A factor that barely
// varies (a huge c2, as when Pareto/NBD's β runs off during a fit) no longer
// forces tiny panels. Panels stop once the integrand times the rest of the
// interval is below e^−40 of the first panel's mass.
func logQuad(c1, p1, c2, p2, lo, hi float64) float64 {
	lf := func(y float64) float64 { return -p1*math.Log(c1+y) - p2*math.Log(c2+y) }
	width := func(a float64) float64 {
		w := 0.5 * (min(c1, c2) + a)
		if slope := p1/(c1+a) + p2/(c2+a); slope > 0 {
			w = min(w, 2/slope)
		}
		if !(w > 0) || math.IsInf(w, 0) {
			w = hi - lo
		}
		return w
	}
	top := lf(lo)
	cutoff := top + math.Log(width(lo)) - 40
	sum := 0.0
	for a := lo; a < hi; {
		b := min(a+width(a), hi)
		if b-a < (hi-lo)*1e-15 && b < hi { // no progress in floating point
			b = hi
		}
		half, mid := (b-a)/2, (a+b)/2
		for k, z := range glNodes {
			sum += glWeights[k] * half * math.Exp(lf(mid+half*z)-top)
		}
		a = b
		if a < hi && lf(a)+math.Log(hi-a) < cutoff {
			break
		}
	}
	return top + math.Log(sum)
}

// paretoObjective is the mean negative log-likelihood over condensed
// patterns in θ = (ln r, ln α, ln s, ln β). Non-finite values become +Inf so
// that Nelder-Mead simply rejects the point.
func paretoObjective(ctx context.Context, p *patterns) func(theta []float64) float64 {
	return func(theta []float64) float64 {
		if ctx.Err() != nil {
			return math.Inf(1)
		}
		for _, v := range theta {
			if math.Abs(v) > 25 {
				return math.Inf(1)
			}
		}
		m := ParetoNBD{R: math.Exp(theta[0]), Alpha: math.Exp(theta[1]), S: math.Exp(theta[2]), Beta: math.Exp(theta[3])}
		acc := []float64{0}
		parallelSum(len(p.w), acc, func(lo, hi int, acc []float64) {
			var ll float64
			for j := lo; j < hi; j++ {
				if j%64 == 0 && ctx.Err() != nil {
					ll = math.Inf(-1)
					break
				}
				ll += p.w[j] * m.LogLikelihood(Summary{X: p.x[j], Tx: p.tx[j], T: p.t[j]})
			}
			acc[0] += ll
		})
		f := -acc[0] / p.total
		if !isFinite(f) {
			return math.Inf(1)
		}
		return f
	}
}

// FitParetoNBD fits a Pareto/NBD model by maximum likelihood with
// Nelder-Mead (restarted from its own optimum until it stops improving,
// from several deterministic starts) followed by a finite-difference BFGS
// polish, and returns it with the total log-likelihood. The likelihood is
// cancellation-prone, so a derivative-free method does the heavy lifting.
func FitParetoNBD(summaries []Summary) (ParetoNBD, float64, error) {
	return fitParetoNBDContext(context.Background(), summaries)
}

func fitParetoNBDContext(ctx context.Context, summaries []Summary) (ParetoNBD, float64, error) {
	p, err := condenseFit(summaries)
	if err != nil {
		return ParetoNBD{}, 0, fmt.Errorf("paretonbd: %w", err)
	}
	f := paretoObjective(ctx, p)
	scale := math.Log(p.maxT)
	starts := [][]float64{
		{0, scale - math.Log(4), 0, scale - math.Log(4)},
		{math.Log(0.5), scale, math.Log(0.5), scale},
		{math.Log(2), scale - math.Log(20), math.Log(2), scale + math.Log(2)},
	}
	// Central-difference gradient for the BFGS polish.
	grad := func(g, x []float64) {
		h := 1e-6
		xx := append([]float64(nil), x...)
		for i := range x {
			xx[i] = x[i] + h
			fp := f(xx)
			xx[i] = x[i] - h
			fm := f(xx)
			xx[i] = x[i]
			g[i] = (fp - fm) / (2 * h)
			if !isFinite(g[i]) {
				g[i] = 0
			}
		}
	}
	// From each start: Nelder-Mead (restarted from its own optimum until it
	// stops improving), then a BFGS polish. The first start whose optimum is
	// interior with a small gradient ends the search; the other starts are
	// for likelihoods the first one does not handle.
	best, bestF := []float64(nil), math.Inf(1)
	var interiorErr error
	for _, x0 := range starts {
		x, fx := x0, f(x0)
		for range 5 {
			if ctx.Err() != nil {
				return ParetoNBD{}, 0, fmt.Errorf("paretonbd: %w", canceled(ctx))
			}
			res, _ := optimize.Minimize(optimize.Problem{Func: f}, x, withCtx(ctx, &optimize.Settings{
				Converger:       &optimize.FunctionConverge{Absolute: 1e-12, Relative: 1e-12, Iterations: 25},
				FuncEvaluations: 3000,
			}), &optimize.NelderMead{})
			if res == nil || !(res.F < fx-1e-12) {
				break
			}
			x, fx = res.X, res.F
		}
		if !isFinite(fx) {
			continue
		}
		if res, _ := optimize.Minimize(optimize.Problem{Func: f, Grad: grad}, x, withCtx(ctx, &optimize.Settings{
			GradientThreshold: 1e-8, FuncEvaluations: 500,
		}), &optimize.BFGS{}); res != nil && res.F < fx {
			x, fx = res.X, res.F
		}
		if ctx.Err() != nil {
			return ParetoNBD{}, 0, fmt.Errorf("paretonbd: %w", canceled(ctx))
		}
		if fx < bestF {
			best, bestF = x, fx
		}
		g := make([]float64, len(x))
		grad(g, x)
		small := true
		for _, v := range g {
			small = small && math.Abs(v) < 1e-5
		}
		if interiorErr = checkInterior([]string{"r", "alpha", "s", "beta"}, x); small && interiorErr == nil && fx <= bestF {
			break
		}
	}
	if best == nil || !isFinite(bestF) {
		return ParetoNBD{}, 0, fmt.Errorf("paretonbd: %w: no finite likelihood found", ErrDegenerateFit)
	}
	if err := checkInterior([]string{"r", "alpha", "s", "beta"}, best); err != nil {
		return ParetoNBD{}, 0, fmt.Errorf("paretonbd: %w", err)
	}
	m := ParetoNBD{R: math.Exp(best[0]), Alpha: math.Exp(best[1]), S: math.Exp(best[2]), Beta: math.Exp(best[3])}
	return m, -bestF * p.total, nil
}
