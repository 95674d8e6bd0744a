package clv

import (
	"math"

	"gonum.org/v1/gonum/mathext"
)

// maxIntervalPurchases bounds the purchase counts an interval sums over.
const maxIntervalPurchases = 5000

// purchaseTail returns P(N >= n) for n = 1, 2, ... of the number N of
// purchases the customer makes in the next h time units, until the tail
// falls below 1e-10. tail[0] is P(N >= 1).
//
// Given alive at T, the purchase rate λ and the dropout probability p (or
// rate μ) have independent posteriors: λ ~ Gamma(r+x, α+T) for every model;
// for BG/NBD p ~ Beta(a, b+x) (no drop-out after the x repeat purchases),
// for MBG/NBD p ~ Beta(a, b+x+1) (nor at the first purchase). With
// drop-out after each purchase, N >= n needs n Poisson events in h and no
// drop-out after the first n−1, so
//
//	P(N >= n) = P(alive) · B(a, b'+n−1)/B(a, b') · P(K >= n),
//
// K negative binomial with r+x and θ = (α+T)/(α+T+h): exact for both. For
// Pareto/NBD (continuous drop-out) K's window is the expected time alive
// within the horizon, (β+T)/(s−1)·(1 − ((β+T)/(β+T+h))^(s−1)), an
// approximation.
func purchaseTail(m PurchaseModel, s Summary, h float64) []float64 {
	alive := math.Min(finiteNonNeg(m.PAlive(s)), 1)
	if !(h > 0) || alive == 0 {
		return nil
	}
	var r, alpha, a, b float64
	drop := false
	switch pm := m.(type) {
	case BGNBD:
		r, alpha, a, b, drop = pm.R, pm.Alpha, pm.A, pm.B+s.X, true
	case MBGNBD:
		r, alpha, a, b, drop = pm.R, pm.Alpha, pm.A, pm.B+s.X+1, true
	case MBGCNBD:
		// As its expectation: the MBG/NBD's with kα for α.
		r, alpha, a, b, drop = pm.R, float64(pm.k())*pm.Alpha, pm.A, pm.B+s.X+1, true
	case ParetoNBD:
		r, alpha = pm.R, pm.Alpha
		bt := pm.Beta + s.T
		if math.Abs(pm.S-1) < 1e-9 {
			h = bt * math.Log1p(h/bt)
		} else {
			h = bt / (pm.S - 1) * (1 - math.Pow(bt/(bt+h), pm.S-1))
		}
	default:
		return nil
	}
	shape := r + s.X
	theta := (alpha + s.T) / (alpha + s.T + h)
	if !(shape > 0) || !(theta > 0) || !isFinite(theta) {
		return nil
	}
	// Negative-binomial pmf by recursion from P(K=0) = θ^shape.
	pmf := math.Exp(shape * math.Log(theta))
	cdf := pmf
	ratio := 1.0 // B(a, b+n−1)/B(a, b)
	var tail []float64
	for n := 1; n <= maxIntervalPurchases; n++ {
		if n >= 2 && drop {
			ratio *= (b + float64(n) - 2) / (a + b + float64(n) - 2)
		}
		t := alive * ratio * math.Max(0, 1-cdf)
		if !(t > 1e-10) {
			break
		}
		tail = append(tail, t)
		pmf *= (shape + float64(n) - 1) / float64(n) * (1 - theta)
		cdf += pmf
	}
	return tail
}

// Interval returns the lo and hi quantiles (for example 0.1 and 0.9) of the
// customer's value over the horizon whose prediction p is, from the purchase
// process: how many purchases (purchaseTail) and what each is worth (the
// Gamma-Gamma posterior of the customer's spend: a sum of n purchases S_n
// satisfies S_n/(S_n + γ + x·m_x) ~ Beta(n·p, p·x + q); with a spend
// fallback every purchase is worth the expected spend). Values are scaled
// by p.CLV / (p.ExpectedPurchases · p.ExpectedSpend), the discount the
// prediction applied, so the interval brackets p.CLV in the same money.
// Parameter uncertainty is not included: with hundreds of customers it is
// small beside the purchase process's.
func (f *Fitted) Interval(s Summary, horizonMonths int, unitsPerMonth float64, p Prediction, lo, hi float64) (low, high float64) {
	cdf := f.valueCDF(s, horizonMonths, unitsPerMonth, p)
	if cdf == nil {
		return 0, 0
	}
	quantile := func(q float64) float64 {
		if cdf(0) >= q {
			return 0
		}
		top := math.Max(p.CLV, 1e-9)
		for i := 0; cdf(top) < q && i < 60; i++ {
			top *= 2
		}
		bot := 0.0
		for range 60 {
			mid := (bot + top) / 2
			if cdf(mid) < q {
				bot = mid
			} else {
				top = mid
			}
			if top-bot <= 1e-3*top {
				break
			}
		}
		return top
	}
	return finiteNonNeg(quantile(lo)), finiteNonNeg(quantile(hi))
}

// valueCDF returns the CDF of the customer's value over the horizon (see
// Interval), or nil when the customer is not expected to buy.
func (f *Fitted) valueCDF(s Summary, horizonMonths int, unitsPerMonth float64, p Prediction) func(v float64) float64 {
	if unitsPerMonth <= 0 || !isFinite(unitsPerMonth) {
		unitsPerMonth = 1
	}
	tail := purchaseTail(f.Purchase, s, float64(max(horizonMonths, 0))*unitsPerMonth)
	if len(tail) == 0 || !(p.CLV > 0) {
		return nil
	}
	// Counts less likely than 1e-7 cannot move a 10th or 90th percentile.
	for len(tail) > 1 && tail[len(tail)-1] < 1e-7 {
		tail = tail[:len(tail)-1]
	}
	scale := 1.0
	if d := p.ExpectedPurchases * p.ExpectedSpend; d > 0 {
		scale = p.CLV / d
	}
	spendOf := f.spendSum(s, p.ExpectedSpend)
	// cdf(v) = P(N=0) + Σ_n P(N=n)·P(S_n ≤ v/scale).
	return func(v float64) float64 {
		c := 1 - tail[0]
		for n := range tail {
			pn := tail[n]
			if n+1 < len(tail) {
				pn -= tail[n+1]
			}
			c += pn * spendOf(n+1, v/scale)
		}
		return c
	}
}

// spendSum returns the CDF of the sum of n purchases' values.
func (f *Fitted) spendSum(s Summary, expected float64) func(n int, v float64) float64 {
	g := f.Spend
	if f.SpendFallback != "" || !(g.P > 0 && g.Q > 0 && g.Gamma > 0) {
		return func(n int, v float64) float64 {
			if v >= float64(n)*expected {
				return 1
			}
			return 0
		}
	}
	x, mx := s.X, s.MeanSpend
	if x <= 0 || mx <= 0 {
		x, mx = 0, 0
	}
	shape, rate := g.P*x+g.Q, g.Gamma+x*mx
	return func(n int, v float64) float64 {
		if v <= 0 {
			return 0
		}
		return mathext.RegIncBeta(float64(n)*g.P, shape, v/(v+rate))
	}
}

// Confidence bands how precisely a customer's predicted value is known, for
// workflows to gate on.
type Confidence string

// Confidence bands.
const (
	ConfidenceHigh   Confidence = "high"
	ConfidenceMedium Confidence = "medium"
	ConfidenceLow    Confidence = "low"
)

// Confidences lists the bands, best first.
func Confidences() []Confidence {
	return []Confidence{ConfidenceHigh, ConfidenceMedium, ConfidenceLow}
}

// ConfidenceOf bands an 80% interval [low, high] around the prediction pred:
// high when the interval is no wider than the prediction itself, medium up
// to three times it, low beyond. A customer expected to buy nothing, with
// the interval [0, 0], is known precisely: high.
func ConfidenceOf(pred, low, high float64) Confidence {
	width := high - low
	switch {
	case width <= 0 || width <= pred:
		return ConfidenceHigh
	case width <= 3*pred:
		return ConfidenceMedium
	}
	return ConfidenceLow
}

// Variance returns the variance of the customer's value over the horizon
// under the same distribution as Interval. Summed over many customers it
// gives an interval on a total (by the central limit theorem), which the
// sum of per-customer percentiles does not.
func (f *Fitted) Variance(s Summary, horizonMonths int, unitsPerMonth float64, p Prediction) float64 {
	if unitsPerMonth <= 0 || !isFinite(unitsPerMonth) {
		unitsPerMonth = 1
	}
	tail := purchaseTail(f.Purchase, s, float64(max(horizonMonths, 0))*unitsPerMonth)
	if len(tail) == 0 || !(p.CLV > 0) {
		return 0
	}
	scale := 1.0
	if d := p.ExpectedPurchases * p.ExpectedSpend; d > 0 {
		scale = p.CLV / d
	}
	// E[S_n²]: with spend ν ~ Gamma(A, B) and S_n | ν ~ Gamma(n·p, ν),
	// E[S_n²] = n·p·(n·p+1)·B²/((A−1)(A−2)); with a fixed spend e, (n·e)².
	g := f.Spend
	x, mx := s.X, s.MeanSpend
	if x <= 0 || mx <= 0 {
		x, mx = 0, 0
	}
	A, B := g.P*x+g.Q, g.Gamma+x*mx
	fixed := f.SpendFallback != "" || !(g.P > 0 && A > 2)
	var m1, m2 float64
	for n := range tail {
		pn := tail[n]
		if n+1 < len(tail) {
			pn -= tail[n+1]
		}
		k := float64(n + 1)
		var es, es2 float64
		if fixed {
			es, es2 = k*p.ExpectedSpend, k*k*p.ExpectedSpend*p.ExpectedSpend
		} else {
			es = k * g.P * B / (A - 1)
			es2 = k * g.P * (k*g.P + 1) * B * B / ((A - 1) * (A - 2))
		}
		m1 += pn * es
		m2 += pn * es2
	}
	return finiteNonNeg((m2 - m1*m1) * scale * scale)
}
