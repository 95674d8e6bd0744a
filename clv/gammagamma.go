package clv

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// GammaGamma is the Gamma-Gamma spend model (Colombo & Jiang 1999; Fader,
// Hardie & Lee 2005): each transaction value is Gamma(P, ν) and
// ν ~ Gamma(Q, rate Gamma) across customers. Spend is assumed independent
// of the purchase process.
type GammaGamma struct {
	P, Q, Gamma float64
}

// Params returns p, q and gamma.
func (g GammaGamma) Params() map[string]float64 {
	return map[string]float64{"p": g.P, "q": g.Q, "gamma": g.Gamma}
}

// LogLikelihood returns the log density of the mean spend m_x of x repeat
// purchases (the lifetimes convention; the density of the total x·m_x is
// lower by ln x). It is 0 for customers without repeat purchases, who carry
// no spend information.
func (g GammaGamma) LogLikelihood(s Summary) float64 {
	x, mx := s.X, s.MeanSpend
	if x <= 0 || mx <= 0 {
		return 0
	}
	px := g.P * x
	return lnGamma(px+g.Q) - lnGamma(px) - lnGamma(g.Q) + g.Q*math.Log(g.Gamma) +
		(px-1)*math.Log(mx) + px*math.Log(x) - (px+g.Q)*math.Log(g.Gamma+x*mx)
}

// PopulationMean returns the mean spend per transaction of a new customer,
// pγ/(q−1), or +Inf when q <= 1.
func (g GammaGamma) PopulationMean() float64 {
	if g.Q <= 1 {
		return math.Inf(1)
	}
	return g.P * g.Gamma / (g.Q - 1)
}

// ConditionalExpectedSpend returns E[M | x, m_x] = p(γ + x·m_x)/(px + q − 1),
// a weighted average of the population mean and the customer's own mean.
// With x = 0 it is the population mean. It requires q > 1.
func (g GammaGamma) ConditionalExpectedSpend(s Summary) float64 {
	x, mx := s.X, s.MeanSpend
	if x <= 0 || mx <= 0 {
		x, mx = 0, 0
	}
	return clampNonNeg(g.P * (g.Gamma + x*mx) / (g.P*x + g.Q - 1))
}

// spendRows is the repeat buyers' (x, m_x) condensed with weights.
type spendRows struct {
	x, lm, m, w []float64 // lm = ln m_x
	xi          []int32
	ux, wx      []float64
	total       float64
	sumWXlogXM  float64 // Σ w·x·(ln m + ln x)
	sumWlogM    float64 // Σ w·ln m
}

func condenseSpend(ss []Summary) (*spendRows, error) {
	tab := newKeyTable()
	n := 0
	for _, s := range ss {
		if s.X > 0 && s.MeanSpend > 0 {
			n++
		}
	}
	r := &spendRows{x: make([]float64, 0, n), m: make([]float64, 0, n), lm: make([]float64, 0, n), w: make([]float64, 0, n)}
	for i, s := range ss {
		if s.X <= 0 || s.MeanSpend <= 0 {
			continue
		}
		if !isFinite(s.MeanSpend) || s.X != math.Floor(s.X) || !isFinite(s.X) {
			return nil, fmt.Errorf("%w: %s: invalid x = %v or mean spend = %v",
				ErrInsufficientData, s.who(i), s.X, s.MeanSpend)
		}
		if i, fresh := tab.index(s.X, s.MeanSpend, 0, r.x, r.m, nil, int32(len(r.x))); !fresh {
			r.w[i]++
			continue
		}
		r.x = append(r.x, s.X)
		r.m = append(r.m, s.MeanSpend)
		r.lm = append(r.lm, math.Log(s.MeanSpend))
		r.w = append(r.w, 1)
	}
	r.xi, r.ux = uniqueIndex(r.x)
	r.wx = make([]float64, len(r.ux))
	for i, w := range r.w {
		r.wx[r.xi[i]] += w
		r.total += w
		r.sumWXlogXM += w * r.x[i] * (r.lm[i] + math.Log(r.x[i]))
		r.sumWlogM += w * r.lm[i]
	}
	return r, nil
}

// ggEval computes the mean negative log-likelihood in θ = (ln p, ln q, ln γ),
// its gradient and, when hess is non-nil, its Hessian (row-major 3×3).
func ggEval(r *spendRows, theta, grad, hess []float64) float64 {
	p, q, g := math.Exp(theta[0]), math.Exp(theta[1]), math.Exp(theta[2])
	lgQ, psiQ, lg := lnGamma(q), mathext.Digamma(q), math.Log(g)
	var ll, dp, dq, dg float64
	var hpp, hpq, hqq float64
	for i, x := range r.ux {
		w := r.wx[i]
		px := p * x
		psiPXQ, psiPX := mathext.Digamma(px+q), mathext.Digamma(px)
		ll += w * (lnGamma(px+q) - lnGamma(px) - lgQ + q*lg)
		dp += w * x * (psiPXQ - psiPX)
		dq += w * (psiPXQ - psiQ + lg)
		dg += w * q / g
		if hess != nil {
			t1 := trigamma(px + q)
			hpp += w * x * x * (t1 - trigamma(px))
			hpq += w * x * t1
			hqq += w * (t1 - trigamma(q))
		}
	}
	// (px−1)ln m + px ln x summed over rows.
	ll += p*r.sumWXlogXM - r.sumWlogM
	dp += r.sumWXlogXM
	acc := make([]float64, 7)
	parallelSum(len(r.w), acc, func(lo, hi int, acc []float64) {
		var sl, sxl, sl0, sinv, sxinv, s0inv, skinv2 float64
		for j := lo; j < hi; j++ {
			x, w := r.x[j], r.w[j]
			d := g + x*r.m[j]
			l := math.Log(d)
			k := p*x + q
			inv := 1 / d
			sl += w * k * l
			sxl += w * x * l
			sl0 += w * l
			sinv += w * k * inv
			sxinv += w * x * inv
			s0inv += w * inv
			skinv2 += w * k * inv * inv
		}
		acc[0] += sl
		acc[1] += sxl
		acc[2] += sl0
		acc[3] += sinv
		acc[4] += sxinv
		acc[5] += s0inv
		acc[6] += skinv2
	})
	ll -= acc[0]
	dp -= acc[1]
	dq -= acc[2]
	dg -= acc[3]
	n := r.total
	grad[0] = -dp * p / n
	grad[1] = -dq * q / n
	grad[2] = -dg * g / n
	if hess != nil {
		// Raw-parameter second derivatives of the LL, then the chain rule
		// for θ = ln φ: H_θ = φ_i φ_j H_ij + δ_ij φ_i g_i.
		hpg := -acc[4]
		hqg := r.total/g - acc[5]
		hgg := -r.total*q/(g*g) + acc[6]
		phi := [3]float64{p, q, g}
		graw := [3]float64{dp, dq, dg}
		h := [3][3]float64{{hpp, hpq, hpg}, {hpq, hqq, hqg}, {hpg, hqg, hgg}}
		for i := range 3 {
			for j := range 3 {
				v := phi[i] * phi[j] * h[i][j]
				if i == j {
					v += phi[i] * graw[i]
				}
				hess[3*i+j] = -v / n
			}
		}
	}
	return -ll / n
}

// trigamma returns ψ₁(x) for x > 0 by recurrence and the asymptotic series.
func trigamma(x float64) float64 {
	v := 0.0
	for x < 6 {
		v += 1 / (x * x)
		x++
	}
	x2 := 1 / (x * x)
	return v + 1/x + x2/2 + x2/x*(1.0/6-x2*(1.0/30-x2*(1.0/42-x2/30)))
}

// FitGammaGamma fits the Gamma-Gamma spend model by maximum likelihood on
// the customers with x > 0 and a positive mean spend, and returns it with
// the total log-likelihood (density of the mean, as lifetimes reports it).
// It returns an error wrapping ErrDegenerateFit when the fitted q <= 1,
// because the population mean spend pγ/(q−1) does not exist then.
func FitGammaGamma(summaries []Summary) (GammaGamma, float64, error) {
	r, err := condenseSpend(summaries)
	if err != nil {
		return GammaGamma{}, 0, fmt.Errorf("gammagamma: %w", err)
	}
	if r.total < 2 {
		return GammaGamma{}, 0, fmt.Errorf("gammagamma: %w: %d repeat buyers with positive spend", ErrInsufficientData, int(r.total))
	}
	mean := 0.0
	for i, m := range r.m {
		mean += r.w[i] * m
	}
	mean /= r.total
	lm := math.Log(mean)
	starts := [][]float64{
		{math.Log(5), math.Log(3), lm - math.Log(2.5)},
		{0, 0, lm},
		{math.Log(20), math.Log(10), lm},
	}
	theta, f, err := minimizeNewton(context.Background(), 3, func(th, g, h []float64) float64 { return ggEval(r, th, g, h) }, starts[0])
	if err != nil {
		theta, f, err = minimizeBFGS(context.Background(), func(th, g []float64) float64 { return ggEval(r, th, g, nil) }, starts)
	}
	if err != nil {
		return GammaGamma{}, 0, fmt.Errorf("gammagamma: %w", err)
	}
	if err := checkInterior([]string{"p", "q", "gamma"}, theta); err != nil {
		return GammaGamma{}, 0, fmt.Errorf("gammagamma: %w", err)
	}
	g := GammaGamma{P: math.Exp(theta[0]), Q: math.Exp(theta[1]), Gamma: math.Exp(theta[2])}
	if g.Q <= 1 {
		return GammaGamma{}, 0, fmt.Errorf("gammagamma: %w: q = %.4g <= 1, the population mean spend does not exist", ErrDegenerateFit, g.Q)
	}
	return g, -f * r.total, nil
}
