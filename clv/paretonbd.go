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
var glNodes, glWeights = gaussLegendre(20)

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
	tail := func(y float64) (float64, bool) {
		f, ok := hyp2f1(a2, b2, a2+1, (M-m)/(M+y))
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
	return logQuad(func(y float64) float64 {
		return -(r+x)*math.Log(alpha+y) - (s+1)*math.Log(beta+y)
	}, tx, T)
}

// logQuad returns ln ∫_lo^hi e^{lf(y)} dy for a smooth log-convex,
// decreasing integrand, by composite Gauss-Legendre quadrature on panels
// that shrink geometrically towards lo, where the mass concentrates.
func logQuad(lf func(float64) float64, lo, hi float64) float64 {
	// Decide the panel layout from how fast the integrand falls.
	drop := lf(lo) - lf(hi)
	panels := 1
	if drop > 1 {
		panels = min(int(drop/2)+1, 40)
	}
	var edges []float64
	if panels == 1 {
		edges = []float64{lo, hi}
	} else {
		// Geometric spacing: widths grow by a constant ratio from lo.
		ratio := 1.5
		total := (math.Pow(ratio, float64(panels)) - 1) / (ratio - 1)
		edges = make([]float64, panels+1)
		edges[0] = lo
		w := (hi - lo) / total
		for i := 1; i <= panels; i++ {
			edges[i] = edges[i-1] + w
			w *= ratio
		}
		edges[panels] = hi
	}
	// The integrand is largest at lo, so scale by e^{lf(lo)} and sum in the
	// linear domain: every term is then <= 1 and the sum cannot overflow.
	top := lf(lo)
	sum := 0.0
	for i := range len(edges) - 1 {
		a, b := edges[i], edges[i+1]
		half, mid := (b-a)/2, (a+b)/2
		if half <= 0 {
			continue
		}
		for k, z := range glNodes {
			sum += glWeights[k] * half * math.Exp(lf(mid+half*z)-top)
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
	p, err := condense(summaries)
	if err != nil {
		return ParetoNBD{}, 0, fmt.Errorf("paretonbd: %w", err)
	}
	if p.total == 0 || p.repeatBuyers == 0 || p.maxT <= 0 {
		return ParetoNBD{}, 0, fmt.Errorf("paretonbd: %w: %d customers, %d with repeat purchases",
			ErrInsufficientData, int(p.total), int(p.repeatBuyers))
	}
	f := paretoObjective(ctx, p)
	scale := math.Log(p.maxT)
	starts := [][]float64{
		{0, scale - math.Log(4), 0, scale - math.Log(4)},
		{math.Log(0.5), scale, math.Log(0.5), scale},
		{math.Log(2), scale - math.Log(20), math.Log(2), scale + math.Log(2)},
	}
	best, bestF := []float64(nil), math.Inf(1)
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
		if fx < bestF {
			best, bestF = x, fx
		}
	}
	if ctx.Err() != nil {
		return ParetoNBD{}, 0, fmt.Errorf("paretonbd: %w", canceled(ctx))
	}
	if best == nil || !isFinite(bestF) {
		return ParetoNBD{}, 0, fmt.Errorf("paretonbd: %w: no finite likelihood found", ErrDegenerateFit)
	}
	// Polish with BFGS on a central-difference gradient.
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
	if res, _ := optimize.Minimize(optimize.Problem{Func: f, Grad: grad}, best, withCtx(ctx, &optimize.Settings{
		GradientThreshold: 1e-8, FuncEvaluations: 500,
	}), &optimize.BFGS{}); res != nil && res.F < bestF {
		best, bestF = res.X, res.F
	}
	if ctx.Err() != nil {
		return ParetoNBD{}, 0, fmt.Errorf("paretonbd: %w", canceled(ctx))
	}
	if err := checkInterior([]string{"r", "alpha", "s", "beta"}, best); err != nil {
		return ParetoNBD{}, 0, fmt.Errorf("paretonbd: %w", err)
	}
	m := ParetoNBD{R: math.Exp(best[0]), Alpha: math.Exp(best[1]), S: math.Exp(best[2]), Beta: math.Exp(best[3])}
	return m, -bestF * p.total, nil
}
