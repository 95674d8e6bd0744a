package clv

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"
)

// ErrInsufficientData reports that the data cannot support a model fit (too
// few customers or repeat buyers, or invalid summaries). Callers should fall
// back to the simple formulas. It is always wrapped with detail.
var ErrInsufficientData = errors.New("clv: insufficient data for a model fit")

// ErrDegenerateFit reports that the likelihood has no interior maximum or the
// optimiser did not converge to finite parameters. It is always wrapped with
// detail.
var ErrDegenerateFit = errors.New("clv: degenerate model fit")

// Model names accepted by FitOptions.Model and FitPurchaseModel. These
// constants are the only spelling of the names; PurchaseModels lists them.
const (
	ModelBGNBD     = "bgnbd"
	ModelMBGNBD    = "mbgnbd"
	ModelParetoNBD = "paretonbd"
	ModelMBGCNBD   = "mbgcnbdk"
)

// PurchaseModels returns the purchase model names, the default (BG/NBD)
// first. Configuration and property options derive their lists from it.
func PurchaseModels() []string {
	return []string{ModelBGNBD, ModelMBGNBD, ModelParetoNBD, ModelMBGCNBD}
}

// PurchaseModel is a fitted buy-till-you-die purchase model. Times are in the
// time unit of the summaries it was fitted on.
type PurchaseModel interface {
	// Name returns the model name, one of PurchaseModels().
	Name() string
	// Params returns the parameters by their conventional names.
	Params() map[string]float64
	// LogLikelihood returns the customer's log-likelihood.
	LogLikelihood(s Summary) float64
	// PAlive returns the probability that the customer is alive at s.T.
	PAlive(s Summary) float64
	// ConditionalExpected returns the expected number of purchases in
	// (s.T, s.T+t] given the customer's history.
	ConditionalExpected(t float64, s Summary) float64
	// UnconditionalExpected returns the expected number of repeat purchases
	// in (0, t] of a new customer.
	UnconditionalExpected(t float64) float64
}

// patterns holds summaries condensed into unique (x, t_x, T) rows with
// weights, plus index arrays into the unique values of x, t_x and T so that
// per-evaluation logs and gamma functions are computed once per value.
type patterns struct {
	x, tx, t, w  []float64
	xi, txi, ti  []int32
	ux, utx, ut  []float64
	wx           []float64 // total weight per unique x
	total        float64
	repeatBuyers float64
	maxT         float64
}

// validSummary reports whether s, the i-th summary, can enter a
// likelihood.
func validSummary(s Summary, i int) error {
	switch {
	case !isFinite(s.X) || !isFinite(s.Tx) || !isFinite(s.T):
		return fmt.Errorf("%s: non-finite summary", s.who(i))
	case s.X < 0 || s.X != math.Floor(s.X):
		return fmt.Errorf("%s: x = %v is not a non-negative integer", s.who(i), s.X)
	case s.Tx < 0 || s.T < s.Tx:
		return fmt.Errorf("%s: need 0 <= t_x <= T (t_x = %v, T = %v)", s.who(i), s.Tx, s.T)
	case s.X == 0 && s.Tx != 0:
		return fmt.Errorf("%s: t_x = %v with x = 0", s.who(i), s.Tx)
	}
	return nil
}

// who names the i-th summary s in errors: its customer, or its position
// when it has no ID (callers fitting hundreds of thousands of customers
// may leave the IDs out of their summaries).
func (s Summary) who(i int) string {
	if s.ID == "" {
		return fmt.Sprintf("summary %d (no customer ID)", i)
	}
	return fmt.Sprintf("customer %q", s.ID)
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

// condense groups summaries into weighted unique patterns.
func condense(ss []Summary) (*patterns, error) {
	p := &patterns{}
	tab := newKeyTable()
	for i, s := range ss {
		if err := validSummary(s, i); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInsufficientData, err)
		}
		i, fresh := tab.index(s.X, s.Tx, s.T, p.x, p.tx, p.t, int32(len(p.x)))
		if !fresh {
			p.w[i]++
			continue
		}
		p.x = append(p.x, s.X)
		p.tx = append(p.tx, s.Tx)
		p.t = append(p.t, s.T)
		p.w = append(p.w, 1)
	}
	p.xi, p.ux = uniqueIndex(p.x)
	p.txi, p.utx = uniqueIndex(p.tx)
	p.ti, p.ut = uniqueIndex(p.t)
	p.wx = make([]float64, len(p.ux))
	for i, w := range p.w {
		p.wx[p.xi[i]] += w
		p.total += w
		if p.x[i] > 0 {
			p.repeatBuyers += w
		}
		p.maxT = max(p.maxT, p.t[i])
	}
	return p, nil
}

// condenseFit condenses summaries for a purchase-model fit, which needs at
// least one repeat buyer and a positive observation time; otherwise the
// error wraps ErrInsufficientData.
func condenseFit(ss []Summary) (*patterns, error) {
	p, err := condense(ss)
	if err != nil {
		return nil, err
	}
	if p.total == 0 || p.repeatBuyers == 0 || p.maxT <= 0 {
		return nil, fmt.Errorf("%w: %d customers, %d with repeat purchases", ErrInsufficientData, int(p.total), int(p.repeatBuyers))
	}
	return p, nil
}

// keyTable is an open-addressing hash index of float64 triples stored in
// the caller's column slices; much faster and smaller than a Go map keyed by
// a float struct on millions of rows. Values are compared with ==, which is
// safe because callers have rejected NaN.
type keyTable struct {
	idx  []int32
	mask uint64
	n    int
}

func newKeyTable() *keyTable {
	t := &keyTable{idx: make([]int32, 1<<12), mask: 1<<12 - 1}
	for i := range t.idx {
		t.idx[i] = -1
	}
	return t
}

func hash3(a, b, c float64) uint64 {
	h := math.Float64bits(a+0)*0x9e3779b97f4a7c15 ^ math.Float64bits(b+0)*0xc2b2ae3d27d4eb4f ^
		math.Float64bits(c+0)*0x165667b19e3779f9
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	return h ^ h>>32
}

// index returns the row of (a, b, c) in the columns xs, ys, zs, or inserts
// next (the row the caller is about to append) and reports true.
func (t *keyTable) index(a, b, c float64, xs, ys, zs []float64, next int32) (int32, bool) {
	for j := hash3(a, b, c) & t.mask; ; j = (j + 1) & t.mask {
		i := t.idx[j]
		if i < 0 {
			t.idx[j] = next
			t.n++
			if 2*t.n > len(t.idx) {
				t.grow(xs, ys, zs, a, b, c)
			}
			return next, true
		}
		if xs[i] == a && ys[i] == b && (zs == nil || zs[i] == c) {
			return i, false
		}
	}
}

// grow doubles the table; the row being inserted (index len(xs)) is not in
// the columns yet, so its key is passed explicitly.
func (t *keyTable) grow(xs, ys, zs []float64, a, b, c float64) {
	old := t.idx
	t.idx = make([]int32, 2*len(old))
	t.mask = uint64(len(t.idx) - 1)
	for i := range t.idx {
		t.idx[i] = -1
	}
	for _, i := range old {
		if i < 0 {
			continue
		}
		ka, kb, kc := a, b, c
		if int(i) < len(xs) {
			ka, kb = xs[i], ys[i]
			if zs != nil {
				kc = zs[i]
			}
		}
		j := hash3(ka, kb, kc) & t.mask
		for t.idx[j] >= 0 {
			j = (j + 1) & t.mask
		}
		t.idx[j] = i
	}
}

func uniqueIndex(v []float64) ([]int32, []float64) {
	m := make(map[float64]int32)
	ix := make([]int32, len(v))
	var u []float64
	for i, x := range v {
		j, ok := m[x]
		if !ok {
			j = int32(len(u))
			m[x] = j
			u = append(u, x)
		}
		ix[i] = j
	}
	return ix, u
}

// parallelSum splits [0, n) into chunks, runs f on each (concurrently for
// large n) and adds the results element-wise into out.
func parallelSum(n int, out []float64, f func(lo, hi int, acc []float64)) {
	workers := runtime.GOMAXPROCS(0)
	if n < 20000 || workers < 2 {
		f(0, n, out)
		return
	}
	workers = min(workers, 8)
	parts := make([][]float64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		parts[w] = make([]float64, len(out))
		lo, hi := n*w/workers, n*(w+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(lo, hi, parts[w])
		}()
	}
	wg.Wait()
	for _, p := range parts {
		for i, v := range p {
			out[i] += v
		}
	}
}

// objective is a mean negative log-likelihood in log-parameter space that
// computes value and gradient together.
type objective func(theta, grad []float64) float64

// ctxConverger wraps a gonum Converger and stops the optimiser once ctx is
// done; gonum consults it after every major iteration.
type ctxConverger struct {
	ctx   context.Context
	inner optimize.Converger
}

func (c ctxConverger) Init(dim int) { c.inner.Init(dim) }

func (c ctxConverger) Converged(loc *optimize.Location) optimize.Status {
	if c.ctx.Err() != nil {
		return optimize.RuntimeLimit
	}
	return c.inner.Converged(loc)
}

// withCtx returns settings whose converger also stops on ctx.
func withCtx(ctx context.Context, s *optimize.Settings) *optimize.Settings {
	inner := s.Converger
	if inner == nil {
		inner = &optimize.FunctionConverge{Absolute: 1e-10, Iterations: 100}
	}
	s.Converger = ctxConverger{ctx: ctx, inner: inner}
	return s
}

// canceled wraps ctx.Err() for a fit that was stopped.
func canceled(ctx context.Context) error {
	return fmt.Errorf("fit stopped: %w", ctx.Err())
}

// minimizeBFGS minimises obj from each start in turn and returns the best
// finite optimum whose gradient is small. It stops soon after ctx is done.
func minimizeBFGS(ctx context.Context, obj objective, starts [][]float64) ([]float64, float64, error) {
	dim := len(starts[0])
	var cacheX, cacheG []float64
	cacheF := math.NaN()
	eval := func(x []float64) (float64, []float64) {
		if cacheX != nil && equalSlices(cacheX, x) {
			return cacheF, cacheG
		}
		g := make([]float64, dim)
		if ctx.Err() != nil {
			return math.Inf(1), g
		}
		f := obj(x, g)
		if !isFinite(f) {
			f = math.Inf(1)
		}
		for i := range g {
			if !isFinite(g[i]) {
				g[i] = 0
			}
		}
		cacheX = append(cacheX[:0], x...)
		cacheF, cacheG = f, g
		return f, g
	}
	prob := optimize.Problem{
		Func: func(x []float64) float64 { f, _ := eval(x); return f },
		Grad: func(grad, x []float64) { _, g := eval(x); copy(grad, g) },
	}
	settings := &optimize.Settings{
		GradientThreshold: 1e-9,
		Converger:         &optimize.FunctionConverge{Absolute: 1e-15, Relative: 1e-15, Iterations: 3},
		MajorIterations:   500,
		FuncEvaluations:   2000,
	}
	settings = withCtx(ctx, settings)
	bestF := math.Inf(1)
	var best []float64
	var lastErr error
	for _, x0 := range starts {
		if ctx.Err() != nil {
			return nil, 0, canceled(ctx)
		}
		res, err := optimize.Minimize(prob, x0, settings, &optimize.BFGS{})
		if res == nil {
			lastErr = err
			continue
		}
		x := res.X
		// A line-search failure right at the optimum is common; polish with
		// Nelder-Mead and BFGS once more before judging the gradient.
		if gradNorm(eval, x) > 1e-6 {
			if nm, _ := optimize.Minimize(optimize.Problem{Func: prob.Func}, x, withCtx(ctx, &optimize.Settings{
				Converger: &optimize.FunctionConverge{Absolute: 1e-14, Iterations: 200}, FuncEvaluations: 4000,
			}), &optimize.NelderMead{}); nm != nil {
				x = nm.X
				if r2, _ := optimize.Minimize(prob, x, settings, &optimize.BFGS{}); r2 != nil && r2.F <= nm.F {
					x = r2.X
				}
			}
		}
		if ctx.Err() != nil {
			return nil, 0, canceled(ctx)
		}
		f, _ := eval(x)
		if gn := gradNorm(eval, x); gn > 1e-5 {
			lastErr = fmt.Errorf("no convergence (gradient norm %.3g, %v)", gn, err)
			continue
		}
		if f < bestF {
			bestF, best = f, append([]float64(nil), x...)
		}
		if bestF < math.Inf(1) {
			break
		}
	}
	if best == nil {
		if lastErr == nil {
			lastErr = errors.New("optimiser found no finite optimum")
		}
		return nil, 0, fmt.Errorf("%w: %w", ErrDegenerateFit, lastErr)
	}
	return best, bestF, nil
}

// minimizeNewton minimises a mean negative log-likelihood with gonum's
// Newton method using an analytic Hessian (row-major in hess). It returns an
// error when it does not reach a small gradient; callers then fall back to
// minimizeBFGS.
func minimizeNewton(ctx context.Context, dim int, obj func(theta, grad, hess []float64) float64, x0 []float64) ([]float64, float64, error) {
	var cacheX, cacheG, cacheH []float64
	var cacheF float64
	eval := func(x []float64) {
		if cacheX != nil && equalSlices(cacheX, x) {
			return
		}
		g, h := make([]float64, dim), make([]float64, dim*dim)
		f := obj(x, g, h)
		if !isFinite(f) {
			f = math.Inf(1)
		}
		cacheX = append(cacheX[:0], x...)
		cacheF, cacheG, cacheH = f, g, h
	}
	prob := optimize.Problem{
		Func: func(x []float64) float64 { eval(x); return cacheF },
		Grad: func(grad, x []float64) { eval(x); copy(grad, cacheG) },
		Hess: func(h *mat.SymDense, x []float64) {
			eval(x)
			for i := range dim {
				for j := i; j < dim; j++ {
					h.SetSym(i, j, cacheH[i*dim+j])
				}
			}
		},
	}
	// The mean likelihood's rounding noise is about 1e-13 relative: a
	// tighter function tolerance makes Newton, which is at the optimum
	// after a handful of steps, line-search in the noise until its
	// iteration limit (100 evaluations instead of 6 for Gamma-Gamma).
	res, err := optimize.Minimize(prob, x0, withCtx(ctx, &optimize.Settings{
		GradientThreshold: 1e-10,
		Converger:         &optimize.FunctionConverge{Absolute: 1e-15, Relative: 1e-12, Iterations: 2},
		MajorIterations:   100,
	}), &optimize.Newton{Linesearcher: &optimize.Backtracking{}})
	if ctx.Err() != nil {
		return nil, 0, canceled(ctx)
	}
	if res == nil {
		return nil, 0, fmt.Errorf("%w: newton: %w", ErrDegenerateFit, err)
	}
	eval(res.X)
	for _, v := range cacheG {
		if !(math.Abs(v) <= 1e-6) {
			return nil, 0, fmt.Errorf("%w: newton did not converge (%v)", ErrDegenerateFit, err)
		}
	}
	return res.X, cacheF, nil
}

func gradNorm(eval func([]float64) (float64, []float64), x []float64) float64 {
	_, g := eval(x)
	n := 0.0
	for _, v := range g {
		n = max(n, math.Abs(v))
	}
	return n
}

func equalSlices(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkInterior rejects optima on the boundary of the parameter space, which
// means the likelihood has no interior maximum (e.g. a shape parameter
// running off to 0 or infinity).
func checkInterior(names []string, theta []float64) error {
	for i, v := range theta {
		if !isFinite(v) || math.Abs(v) > 18 { // e^18 ≈ 6.6e7
			return fmt.Errorf("%w: parameter %s = %.3g is at the edge of the parameter space (no interior maximum)",
				ErrDegenerateFit, names[i], math.Exp(v))
		}
	}
	return nil
}

// FitPurchaseModel fits the named purchase model (one of PurchaseModels();
// "" means "bgnbd") by maximum likelihood and returns it with
// its total log-likelihood.
func FitPurchaseModel(model string, summaries []Summary) (PurchaseModel, float64, error) {
	return FitPurchaseModelContext(context.Background(), model, summaries)
}

// FitPurchaseModelContext is FitPurchaseModel that stops soon after ctx is
// done, returning an error that wraps ctx.Err().
func FitPurchaseModelContext(ctx context.Context, model string, summaries []Summary) (PurchaseModel, float64, error) {
	switch model {
	case "", ModelBGNBD:
		p, ll, err := fitBGFamilyContext(ctx, summaries, false)
		if err != nil {
			return nil, 0, fmt.Errorf("bgnbd: %w", err)
		}
		return BGNBD{R: p[0], Alpha: p[1], A: p[2], B: p[3]}, ll, nil
	case ModelMBGNBD:
		p, ll, err := fitBGFamilyContext(ctx, summaries, true)
		if err != nil {
			return nil, 0, fmt.Errorf("mbgnbd: %w", err)
		}
		return MBGNBD{R: p[0], Alpha: p[1], A: p[2], B: p[3]}, ll, nil
	case ModelParetoNBD:
		m, ll, err := fitParetoNBDContext(ctx, summaries)
		if err != nil {
			return nil, 0, err
		}
		return m, ll, err
	case ModelMBGCNBD:
		m, ll, err := fitMBGCNBDContext(ctx, summaries)
		if err != nil {
			return nil, 0, err
		}
		return m, ll, nil
	}
	return nil, 0, fmt.Errorf("clv: unknown model %q (want %s)", model, strings.Join(PurchaseModels(), ", "))
}

// FitOptions configures FitModels. Zero values select the defaults.
type FitOptions struct {
	// Model is one of PurchaseModels(); "" means "bgnbd".
	Model string
	// MinCustomers is the minimum number of customers (default 30).
	MinCustomers int
	// MinRepeatBuyers is the minimum number of customers with x > 0 and a
	// positive mean spend (default 10).
	MinRepeatBuyers int
}

// Fitted is a purchase model and a Gamma-Gamma spend model fitted together.
type Fitted struct {
	// Purchase is the fitted purchase model.
	Purchase PurchaseModel
	// Spend is the fitted Gamma-Gamma spend model.
	Spend GammaGamma
	// LogLik is the purchase model's total log-likelihood.
	LogLik float64
	// SpendLogLik is the spend model's total log-likelihood (density of
	// the mean spend).
	SpendLogLik float64
	// Customers is the number of summaries fitted; RepeatBuyers the number
	// used by the spend model.
	Customers, RepeatBuyers int
	// SpendFallback is empty when the Gamma-Gamma model is used. When the
	// spend model could not be fitted (for example q <= 1: the population
	// mean spend does not exist) while the purchase model could, it says why
	// in plain words; Spend is then zero and ExpectedSpend uses observed
	// averages instead.
	SpendFallback string
	// AverageSpend is the mean value of the repeat purchases over all repeat
	// buyers, Σ x·m_x / Σ x (0 when there is none).
	AverageSpend float64
	// Cov is the covariance of the fitted log-parameters, set by
	// EstimateCovariance (nil before, or when the likelihood's curvature
	// could not be estimated): ParamSD reads it.
	Cov *ParamCov
}

// ExpectedSpend returns the expected value of one of the customer's future
// purchases: the Gamma-Gamma conditional mean, or, when SpendFallback is set,
// the customer's own mean repeat spend (X > 0) or else AverageSpend.
func (f *Fitted) ExpectedSpend(s Summary) float64 {
	if f.SpendFallback == "" {
		return finiteNonNeg(f.Spend.ConditionalExpectedSpend(s))
	}
	if s.X > 0 && s.MeanSpend > 0 && isFinite(s.MeanSpend) {
		return s.MeanSpend
	}
	return finiteNonNeg(f.AverageSpend)
}

// FitModels fits the purchase model named in opts and a Gamma-Gamma spend
// model. It is FitModelsContext without cancellation.
func FitModels(summaries []Summary, opts FitOptions) (*Fitted, error) {
	return FitModelsContext(context.Background(), summaries, opts)
}

// FitModelsContext fits the purchase model named in opts and a Gamma-Gamma
// spend model. Errors wrap ErrInsufficientData or ErrDegenerateFit when the
// data cannot support a purchase-model fit, so callers can fall back to
// simpler formulas. When only the spend model fails, the purchase model is
// kept and Fitted.SpendFallback says so. The optimisers check ctx between
// likelihood evaluations and the fit returns ctx.Err() (wrapped) soon after
// ctx is done.
func FitModelsContext(ctx context.Context, summaries []Summary, opts FitOptions) (*Fitted, error) {
	minC, minR := opts.MinCustomers, opts.MinRepeatBuyers
	if minC <= 0 {
		minC = 30
	}
	if minR <= 0 {
		minR = 10
	}
	switch opts.Model {
	case "", ModelBGNBD, ModelMBGNBD, ModelParetoNBD, ModelMBGCNBD:
	default:
		return nil, fmt.Errorf("clv: unknown model %q (want %s)", opts.Model, strings.Join(PurchaseModels(), ", "))
	}
	repeat := 0
	var spendSum, spendN float64
	for _, s := range summaries {
		if s.X > 0 && s.MeanSpend > 0 {
			repeat++
			if isFinite(s.MeanSpend) {
				spendSum += s.X * s.MeanSpend
				spendN += s.X
			}
		}
	}
	if len(summaries) < minC {
		return nil, fmt.Errorf("%w: %d customers, need at least %d", ErrInsufficientData, len(summaries), minC)
	}
	if repeat < minR {
		return nil, fmt.Errorf("%w: %d repeat buyers, need at least %d", ErrInsufficientData, repeat, minR)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fit purchase model: %w", err)
	}
	pm, ll, err := FitPurchaseModelContext(ctx, opts.Model, summaries)
	if err != nil {
		return nil, fmt.Errorf("fit purchase model: %w", err)
	}
	f := &Fitted{Purchase: pm, LogLik: ll, Customers: len(summaries), RepeatBuyers: repeat}
	if spendN > 0 {
		f.AverageSpend = spendSum / spendN
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fit spend model: %w", err)
	}
	gg, sll, err := FitGammaGamma(summaries)
	if err != nil {
		f.SpendFallback = fmt.Sprintf("spend model not used (%v); expected spend is the customer's own average purchase value, or the base average %.2f for one-time buyers", err, f.AverageSpend)
		return f, nil
	}
	f.Spend, f.SpendLogLik = gg, sll
	return f, nil
}
