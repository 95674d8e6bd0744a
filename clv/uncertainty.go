package clv

import (
	"context"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// ParamCov is the estimated covariance of a fit's parameters on the log
// scale, the inverse of the observed information (the Hessian of the total
// negative log-likelihood at the optimum). The purchase model's parameters
// come first in their conventional order (r, α, a, b for BG/NBD and
// MBG/NBD; r, α, s, β for Pareto/NBD), then the spend model's (p, q, γ)
// unless the spend model fell back. The two blocks are independent: the
// models have separate likelihoods.
type ParamCov struct {
	Names []string    `json:"names"`
	Cov   [][]float64 `json:"cov"`
}

// purchaseParamNames returns the purchase model's parameter names in the
// order of its log-parameter vector, or nil for a model without one.
func purchaseParamNames(m PurchaseModel) []string {
	switch m.(type) {
	case BGNBD, MBGNBD, MBGCNBD:
		return []string{"r", "alpha", "a", "b"}
	case ParetoNBD:
		return []string{"r", "alpha", "s", "beta"}
	}
	return nil
}

// logParams returns the fit's log-parameter vector in ParamCov's order.
func (f *Fitted) logParams(withSpend bool) []float64 {
	var v []float64
	params := f.Purchase.Params()
	for _, name := range purchaseParamNames(f.Purchase) {
		v = append(v, params[name])
	}
	if withSpend {
		v = append(v, f.Spend.P, f.Spend.Q, f.Spend.Gamma)
	}
	for i := range v {
		v[i] = math.Log(v[i])
	}
	return v
}

// withLogParams returns the fit with its parameters set from the
// log-parameter vector theta (ParamCov's order).
func (f *Fitted) withLogParams(theta []float64) *Fitted {
	e := func(i int) float64 { return math.Exp(theta[i]) }
	g := *f
	switch pm := f.Purchase.(type) {
	case BGNBD:
		g.Purchase = BGNBD{R: e(0), Alpha: e(1), A: e(2), B: e(3)}
	case MBGCNBD:
		g.Purchase = MBGCNBD{K: pm.K, R: e(0), Alpha: e(1), A: e(2), B: e(3)}
	case MBGNBD:
		g.Purchase = MBGNBD{R: e(0), Alpha: e(1), A: e(2), B: e(3)}
	case ParetoNBD:
		g.Purchase = ParetoNBD{R: e(0), Alpha: e(1), S: e(2), Beta: e(3)}
	}
	if len(theta) == 7 {
		g.Spend = GammaGamma{P: e(4), Q: e(5), Gamma: e(6)}
	}
	return &g
}

// EstimateCovariance sets f.Cov from the summaries f was fitted on. It
// leaves f.Cov nil and returns an error when the likelihood has no
// curvature at the fit (intervals then carry the purchase process's
// uncertainty only); see pseudoInverse for flat directions.
func (f *Fitted) EstimateCovariance(ctx context.Context, summaries []Summary) error {
	f.Cov = nil
	names := purchaseParamNames(f.Purchase)
	if names == nil {
		return fmt.Errorf("clv: no parameter covariance for model %T", f.Purchase)
	}
	p, err := condense(summaries)
	if err != nil {
		return err
	}
	theta := f.logParams(false)
	var hp [][]float64
	switch f.Purchase.(type) {
	case BGNBD, MBGNBD:
		_, modified := f.Purchase.(MBGNBD)
		obj := bgObjective(p, modified)
		hp = hessianFromGrad(func(th, g []float64) { obj(th, g) }, theta)
	case ParetoNBD:
		obj := paretoObjective(ctx, p)
		hp = hessianFromValues(obj, theta)
	case MBGCNBD:
		obj := cnbdObjective(ctx, p, f.Purchase.(MBGCNBD).k())
		hp = hessianFromGrad(func(th, g []float64) { obj(th, g) }, theta)
	}
	if err := ctx.Err(); err != nil {
		return canceled(ctx)
	}
	blocks := [][][]float64{scaled(hp, p.total)}
	if f.SpendFallback == "" && f.Spend.P > 0 && f.Spend.Q > 0 && f.Spend.Gamma > 0 {
		if r, err := condenseSpend(summaries); err == nil && r.total >= 2 {
			h := make([]float64, 9)
			ggEval(r, f.logParams(true)[4:], make([]float64, 3), h)
			blocks = append(blocks, scaled([][]float64{h[0:3], h[3:6], h[6:9]}, r.total))
			names = append(names, "p", "q", "gamma")
		}
	}
	var cov [][]float64
	for i, b := range blocks {
		inv, err := pseudoInverse(b)
		if err != nil {
			what := "purchase"
			if i == 1 {
				what = "spend"
			}
			return fmt.Errorf("clv: %s model's information matrix: %w", what, err)
		}
		cov = blockDiag(cov, inv)
	}
	f.Cov = &ParamCov{Names: names, Cov: cov}
	return nil
}

// scaled returns the mean Hessian times n, the total's.
func scaled(h [][]float64, n float64) [][]float64 {
	out := make([][]float64, len(h))
	for i := range h {
		out[i] = make([]float64, len(h[i]))
		for j := range h[i] {
			out[i][j] = h[i][j] * n
		}
	}
	return out
}

// hessianFromGrad differentiates an analytic gradient by central
// differences and symmetrises the result.
func hessianFromGrad(grad func(theta, g []float64), theta []float64) [][]float64 {
	n := len(theta)
	h := make([][]float64, n)
	x := append([]float64(nil), theta...)
	gp, gm := make([]float64, n), make([]float64, n)
	for i := range n {
		step := 1e-5 * math.Max(1, math.Abs(theta[i]))
		x[i] = theta[i] + step
		grad(x, gp)
		x[i] = theta[i] - step
		grad(x, gm)
		x[i] = theta[i]
		h[i] = make([]float64, n)
		for j := range n {
			h[i][j] = (gp[j] - gm[j]) / (2 * step)
		}
	}
	return symmetrise(h)
}

// hessianFromValues is the central-difference Hessian of f.
func hessianFromValues(f func([]float64) float64, theta []float64) [][]float64 {
	n := len(theta)
	x := append([]float64(nil), theta...)
	at := func(i int, di float64, j int, dj float64) float64 {
		x[i] += di
		x[j] += dj
		v := f(x)
		copy(x, theta)
		return v
	}
	step := make([]float64, n)
	for i := range n {
		step[i] = 1e-4 * math.Max(1, math.Abs(theta[i]))
	}
	f0 := f(x)
	h := make([][]float64, n)
	for i := range n {
		h[i] = make([]float64, n)
	}
	for i := range n {
		h[i][i] = (at(i, step[i], i, 0) - 2*f0 + at(i, -step[i], i, 0)) / (step[i] * step[i])
		for j := i + 1; j < n; j++ {
			v := (at(i, step[i], j, step[j]) - at(i, step[i], j, -step[j]) -
				at(i, -step[i], j, step[j]) + at(i, -step[i], j, -step[j])) / (4 * step[i] * step[j])
			h[i][j], h[j][i] = v, v
		}
	}
	return h
}

func symmetrise(h [][]float64) [][]float64 {
	for i := range h {
		for j := i + 1; j < len(h); j++ {
			v := (h[i][j] + h[j][i]) / 2
			h[i][j], h[j][i] = v, v
		}
	}
	return h
}

// pseudoInverse inverts a symmetric information matrix by its
// eigen-decomposition, leaving out directions with next to no information
// (eigenvalues below 1e-9 of the largest, negative ones included): a fit on
// a flat ridge (for example Gamma-Gamma with p → ∞ and γ → 0, p·γ fixed)
// has no variance to report along the ridge, and predictions do not move
// along it either.
func pseudoInverse(h [][]float64) ([][]float64, error) {
	n := len(h)
	s := mat.NewSymDense(n, nil)
	for i := range n {
		for j := i; j < n; j++ {
			if !isFinite(h[i][j]) {
				return nil, fmt.Errorf("%w: non-finite curvature", ErrDegenerateFit)
			}
			s.SetSym(i, j, h[i][j])
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(s, true) {
		return nil, fmt.Errorf("%w: eigen-decomposition failed", ErrDegenerateFit)
	}
	vals := eig.Values(nil)
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	top := 0.0
	for _, v := range vals {
		top = math.Max(top, v)
	}
	if !(top > 0) {
		return nil, fmt.Errorf("%w: no curvature (not at a maximum)", ErrDegenerateFit)
	}
	out := make([][]float64, n)
	for i := range n {
		out[i] = make([]float64, n)
	}
	for k, v := range vals {
		if v <= 1e-9*top {
			continue
		}
		for i := range n {
			for j := range n {
				out[i][j] += vecs.At(i, k) * vecs.At(j, k) / v
			}
		}
	}
	return out, nil
}

// blockDiag appends b to a's diagonal.
func blockDiag(a, b [][]float64) [][]float64 {
	n, m := len(a), len(b)
	out := make([][]float64, n+m)
	for i := range out {
		out[i] = make([]float64, n+m)
		if i < n {
			copy(out[i], a[i])
		} else {
			copy(out[i][n:], b[i-n])
		}
	}
	return out
}

// ParamSD returns the standard deviation of the customer's predicted value
// (Prediction.CLV with the same arguments as Predict) that comes from the
// uncertainty of the fitted parameters, by the delta method: √(gᵀ Σ g), g
// the gradient of the value in the log-parameters (forward differences) and
// Σ = f.Cov. It is 0 without a covariance.
func (f *Fitted) ParamSD(s Summary, horizonMonths int, monthlyDiscount, unitsPerMonth float64, p Prediction) float64 {
	if f.Cov == nil || !(p.CLV > 0) {
		return 0
	}
	n := len(f.Cov.Names)
	theta := f.logParams(n == 7)
	if len(theta) != n {
		return 0
	}
	g := make([]float64, n)
	x := append([]float64(nil), theta...)
	for i := range n {
		const step = 1e-4
		x[i] = theta[i] + step
		q := f.withLogParams(x)
		v := CLV(q.Purchase, q.ExpectedSpend(s), s, horizonMonths, monthlyDiscount, unitsPerMonth)
		x[i] = theta[i]
		g[i] = (v - p.CLV) / step
		if !isFinite(g[i]) {
			return 0
		}
	}
	var v float64
	for i := range n {
		for j := range n {
			v += g[i] * f.Cov.Cov[i][j] * g[j]
		}
	}
	return math.Sqrt(finiteNonNeg(v))
}

// WidenInterval adds parameter uncertainty to a [low, high] interval of the
// lo and hi quantiles around the prediction pred: each side's distance from
// pred and the parameters' spread at that quantile (paramSD times the
// normal quantile) add in quadrature. The low end stays at least 0.
func WidenInterval(pred, low, high, paramSD, lo, hi float64) (float64, float64) {
	if !(paramSD > 0) || !isFinite(paramSD) {
		return low, high
	}
	zl, zh := normalQuantile(lo)*paramSD, normalQuantile(hi)*paramSD
	low = pred - math.Hypot(math.Max(pred-low, 0), zl)
	high = pred + math.Hypot(math.Max(high-pred, 0), zh)
	return math.Max(low, 0), high
}

// normalQuantile is the standard normal quantile of q.
func normalQuantile(q float64) float64 { return math.Sqrt2 * math.Erfinv(2*q-1) }
