package clv

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/shopspring/decimal"
	"gonum.org/v1/gonum/mathext"
	"gonum.org/v1/gonum/optimize"
)

// ErrSBGFit reports that the shifted-beta-geometric model cannot be fitted to
// the data (no churn at all, everyone churned at the first renewal, too few
// subscribers) or that the fit failed or came out degenerate. Callers fall back
// to the simple formulas and flag the outputs with FallbackToSimple.
var ErrSBGFit = errors.New("sBG fit")

// SBG is a fitted shifted-beta-geometric retention model (Fader & Hardie
// 2007, "How to project customer retention", J. Interactive Marketing
// 21(1)). Each subscriber renews at the end of every period with probability
// 1-θ until they cancel, and θ ~ Beta(Alpha, Beta) across subscribers. Periods
// are counted from the start of the subscription: a subscriber with lifetime T
// paid for periods 1..T.
type SBG struct {
	Alpha, Beta float64
	// LogLikelihood is the maximised log-likelihood of the fit.
	LogLikelihood float64
}

// Tenure is one subscriber's observed lifetime in periods. Subscribers pay
// at the start of each period. Churned subscribers paid for exactly Periods
// periods (T = Periods >= 1); active ones have completed Periods periods and
// are still paying (T > Periods): they have paid Periods+1 times (the
// current period included) and made Periods renewals.
type Tenure struct {
	Periods int
	Churned bool
}

// Payments returns the number of payments made: Periods for a churned
// subscriber, Periods+1 for an active one (who has paid for the current
// period).
func (t Tenure) Payments() int {
	if t.Churned {
		return max(t.Periods, 0)
	}
	return max(t.Periods, 0) + 1
}

// SubscriptionValuePerPeriod returns the value of one period, total / number
// of payments (see Tenure.Payments), at 16 decimal places; 0 when nothing
// was paid.
func SubscriptionValuePerPeriod(total decimal.Decimal, t Tenure) decimal.Decimal {
	n := t.Payments()
	if n <= 0 {
		return decimal.Zero
	}
	return total.DivRound(decimal.NewFromInt(int64(n)), 16)
}

// PAlive returns the probability that the subscriber makes their next
// renewal: 0 for a churned subscriber, and for an active one who has paid n
// = Periods+1 times, S(n)/S(n-1) = Retention(n). (The renewal already made,
// Retention(Periods), is certain.)
func (m SBG) PAlive(t Tenure) float64 {
	if t.Churned {
		return 0
	}
	return m.Retention(t.Payments())
}

// sbgLogBeta returns ln B(a, b).
func sbgLogBeta(a, b float64) float64 {
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	return la + lb - lab
}

// Survival returns S(t) = P(T > t) = B(α, β+t) / B(α, β), the share of a
// cohort still subscribed after t periods. S(0) = 1.
func (m SBG) Survival(t int) float64 {
	if t <= 0 {
		return 1
	}
	return math.Exp(sbgLogBeta(m.Alpha, m.Beta+float64(t)) - sbgLogBeta(m.Alpha, m.Beta))
}

// ChurnProbability returns P(T = t) = B(α+1, β+t-1) / B(α, β), the share of
// a cohort that leaves after exactly t periods (t >= 1; 0 otherwise).
func (m SBG) ChurnProbability(t int) float64 {
	if t < 1 {
		return 0
	}
	return math.Exp(sbgLogBeta(m.Alpha+1, m.Beta+float64(t)-1) - sbgLogBeta(m.Alpha, m.Beta))
}

// Retention returns the retention rate at the t-th renewal,
// r_t = S(t)/S(t-1) = (β+t-1)/(α+β+t-1), for t >= 1. It rises with t: the
// cohort sorts itself, the most loyal subscribers staying.
func (m SBG) Retention(t int) float64 {
	if t < 1 {
		return 1
	}
	return (m.Beta + float64(t) - 1) / (m.Alpha + m.Beta + float64(t) - 1)
}

// sbgMaxTerms bounds the residual-lifetime series. With discount d > 0 the
// terms fall at least like 1/(1+d)^k; without discount the horizon bounds it.
const sbgMaxTerms = 1_000_000

// ExpectedRemaining returns the expected discounted number of future payments
// from a subscriber who is still active after `renewals` renewals (0 for one
// in their first period), at the end of their current period:
//
//	Σ_{k=0}^{H-1} S(n+k)/S(n-1) / (1+d)^k,  n = renewals+1
//
// The first term is the next renewal, undiscounted, as in Fader & Hardie
// (2010), "Customer-base valuation in a contractual setting: the perils of
// ignoring heterogeneity", Marketing Science 29(1). horizon H limits the
// count to the next H payments; horizon 0 means no limit, which is their
// DERL(d) = (β+n-1)/(α+β+n-1) · ₂F₁(1, β+n; α+β+n; 1/(1+d)) and needs d > 0
// (without discounting the expected lifetime is infinite when α <= 1).
// discount is per period.
func (m SBG) ExpectedRemaining(renewals, horizon int, discount float64) (float64, error) {
	switch {
	case renewals < 0:
		return 0, fmt.Errorf("renewals must be >= 0 (got %d)", renewals)
	case horizon < 0:
		return 0, fmt.Errorf("horizon must be >= 0 (got %d)", horizon)
	case discount < 0 || math.IsNaN(discount) || math.IsInf(discount, 0):
		return 0, fmt.Errorf("discount rate must be >= 0 (got %v)", discount)
	case horizon == 0 && discount == 0:
		return 0, errors.New("an unlimited horizon needs a discount rate > 0")
	case !(m.Alpha > 0) || !(m.Beta > 0) || math.IsInf(m.Alpha, 0) || math.IsInf(m.Beta, 0):
		return 0, fmt.Errorf("%w: invalid parameters alpha=%v beta=%v", ErrSBGFit, m.Alpha, m.Beta)
	}
	limit := horizon
	if limit == 0 || limit > sbgMaxTerms {
		limit = sbgMaxTerms
	}
	// term_k = P(alive for the payment k periods ahead) / (1+d)^k, built by
	// the retention recursion so that no power or beta function overflows.
	var sum float64
	alive, df := 1.0, 1.0
	for k := 0; k < limit; k++ {
		alive *= m.Retention(renewals + 1 + k)
		term := alive * df
		sum += term
		if horizon == 0 && term < 1e-13*sum {
			break
		}
		df /= 1 + discount
	}
	if math.IsNaN(sum) || math.IsInf(sum, 0) {
		return 0, fmt.Errorf("%w: expected lifetime is not finite", ErrSBGFit)
	}
	return sum, nil
}

// SubscriptionConfig configures subscription (contractual) CLV.
type SubscriptionConfig struct {
	// Horizon is the number of future periods counted; 0 means no limit
	// (DERL), which needs Discount > 0.
	Horizon int
	// Discount is the discount rate per period (0.01 = 1 % per month).
	Discount float64
}

// Validate reports the first invalid field.
func (c SubscriptionConfig) Validate() error {
	switch {
	case c.Horizon < 0:
		return fmt.Errorf("subscription.horizon must be >= 0 (got %d)", c.Horizon)
	case c.Discount < 0 || math.IsNaN(c.Discount) || math.IsInf(c.Discount, 0) || c.Discount >= 1:
		return fmt.Errorf("subscription.discount must be in [0, 1) (got %v)", c.Discount)
	case c.Horizon == 0 && c.Discount == 0:
		return errors.New("subscription.discount must be > 0 when subscription.horizon is 0 (unlimited)")
	}
	return nil
}

// SubscriptionValue is one subscriber's forward-looking CLV.
type SubscriptionValue struct {
	// ExpectedPeriods is the expected discounted number of future payments
	// (see SBG.ExpectedRemaining); 0 for a churned subscriber.
	ExpectedPeriods decimal.Decimal
	// CLV = value per period x ExpectedPeriods, never negative.
	CLV   decimal.Decimal
	Flags Flags
}

// SubscriptionCLV returns value per period x expected remaining lifetime for
// a subscriber with tenure t under model m: the expected discounted number of
// future payments after the Periods renewals already made (the first term
// is the next renewal, see SBG.ExpectedRemaining). Use
// SubscriptionValuePerPeriod for the value per period. A churned subscriber
// is worth 0.
func SubscriptionCLV(valuePerPeriod decimal.Decimal, m SBG, t Tenure, cfg SubscriptionConfig) (SubscriptionValue, error) {
	if err := cfg.Validate(); err != nil {
		return SubscriptionValue{}, err
	}
	var v SubscriptionValue
	if t.Churned {
		return v, nil
	}
	renewals := max(t.Payments()-1, 0)
	n, err := m.ExpectedRemaining(renewals, cfg.Horizon, cfg.Discount)
	if err != nil {
		return SubscriptionValue{}, err
	}
	ep, ok := DecimalFromFloat(n)
	if !ok {
		return SubscriptionValue{}, fmt.Errorf("%w: expected lifetime is not finite", ErrSBGFit)
	}
	v.ExpectedPeriods = ep
	v.CLV, v.Flags = clampFlagged(valuePerPeriod.Mul(ep), nil)
	return v, nil
}

// SubscriptionTenure derives a subscriber's tenure from their payments (won
// deals), one expected per period of unit. The subscription starts at the
// first payment. It counts as cancelled when the last payment's period plus
// grace ended before asOf; then Periods is the number of periods paid,
// rounded to the nearest whole period from first to last payment, plus one.
// Otherwise Periods is the number of whole periods completed by asOf. ok is
// false when there is no payment on or before asOf.
func SubscriptionTenure(orders []Order, unit TimeUnit, grace time.Duration, asOf time.Time) (t Tenure, ok bool) {
	h := Historical(orders, decimal.NewFromInt(1), decimal.Zero, asOf)
	if h.Orders == 0 {
		return Tenure{}, false
	}
	paid := UnitsSince(h.First, h.Last, unit).Round(0).IntPart() + 1
	periodEnd := h.First.Add(time.Duration(float64(paid) * unit.Days() * float64(24*time.Hour)))
	if periodEnd.Add(grace).Before(asOf) {
		return Tenure{Periods: int(paid), Churned: true}, true
	}
	return Tenure{Periods: int(UnitsSince(h.First, asOf, unit).Floor().IntPart())}, true
}

// sbgData is the likelihood's sufficient statistics: deaths[t] subscribers
// with T = t, censored[t] with T > t.
type sbgData struct {
	deaths, censored map[int]float64
}

// FitSBG fits α and β by maximum likelihood to individual tenures, each
// subscriber contributing ln P(T = t) if churned, ln S(t) if still active.
// Cohorts of different ages can be mixed. It returns an error wrapping
// ErrSBGFit when the data cannot identify the model.
func FitSBG(tenures []Tenure) (SBG, error) {
	d := sbgData{deaths: map[int]float64{}, censored: map[int]float64{}}
	for i, t := range tenures {
		switch {
		case t.Churned && t.Periods < 1:
			return SBG{}, fmt.Errorf("tenure %d: a churned subscriber has Periods >= 1 (got %d)", i, t.Periods)
		case t.Periods < 0:
			return SBG{}, fmt.Errorf("tenure %d: Periods must be >= 0 (got %d)", i, t.Periods)
		case t.Churned:
			d.deaths[t.Periods]++
		default:
			d.censored[t.Periods]++
		}
	}
	return fitSBG(d)
}

// FitSBGSurvival fits the model to one cohort's survival counts: alive[0] is
// the cohort size and alive[t] the number still subscribed after t periods.
// Those still subscribed after the last period are right-censored, as in
// Fader & Hardie (2007).
func FitSBGSurvival(alive []int) (SBG, error) {
	if len(alive) < 2 {
		return SBG{}, fmt.Errorf("%w: need at least two survival counts (got %d)", ErrSBGFit, len(alive))
	}
	d := sbgData{deaths: map[int]float64{}, censored: map[int]float64{}}
	for t := 1; t < len(alive); t++ {
		if alive[t] < 0 || alive[t] > alive[t-1] {
			return SBG{}, fmt.Errorf("survival count %d (%d) must be between 0 and the previous count (%d)", t, alive[t], alive[t-1])
		}
		if n := alive[t-1] - alive[t]; n > 0 {
			d.deaths[t] = float64(n)
		}
	}
	if last := alive[len(alive)-1]; last > 0 {
		d.censored[len(alive)-1] = float64(last)
	}
	return fitSBG(d)
}

// fitSBG maximises the likelihood over (ln α, ln β).
func fitSBG(d sbgData) (SBG, error) {
	var nDeaths, nLater float64 // churned, and evidence of surviving past period 1
	for t, n := range d.deaths {
		nDeaths += n
		if t >= 2 {
			nLater += n
		}
	}
	for t, n := range d.censored {
		if t >= 1 {
			nLater += n
		}
	}
	switch {
	case nDeaths == 0:
		return SBG{}, fmt.Errorf("%w: no subscriber has churned, retention cannot be estimated", ErrSBGFit)
	case nLater == 0:
		return SBG{}, fmt.Errorf("%w: no subscriber stayed past the first period", ErrSBGFit)
	}
	nll := func(x []float64) float64 {
		a, b := math.Exp(x[0]), math.Exp(x[1])
		lb := sbgLogBeta(a, b)
		var ll float64
		for t, n := range d.deaths {
			ll += n * (sbgLogBeta(a+1, b+float64(t)-1) - lb)
		}
		for t, n := range d.censored {
			if t > 0 {
				ll += n * (sbgLogBeta(a, b+float64(t)) - lb)
			}
		}
		if math.IsNaN(ll) {
			return math.Inf(1)
		}
		return -ll
	}
	grad := func(g, x []float64) {
		a, b := math.Exp(x[0]), math.Exp(x[1])
		psiA, psiB, psiAB := mathext.Digamma(a), mathext.Digamma(b), mathext.Digamma(a+b)
		var ga, gb float64
		for t, n := range d.deaths {
			tf := float64(t)
			psiABt := mathext.Digamma(a + b + tf)
			ga += n * (mathext.Digamma(a+1) - psiABt - psiA + psiAB)
			gb += n * (mathext.Digamma(b+tf-1) - psiABt - psiB + psiAB)
		}
		for t, n := range d.censored {
			if t == 0 {
				continue
			}
			tf := float64(t)
			psiABt := mathext.Digamma(a + b + tf)
			ga += n * (psiAB - psiABt)
			gb += n * (mathext.Digamma(b+tf) - psiABt - psiB + psiAB)
		}
		g[0], g[1] = -a*ga, -b*gb
	}
	p := optimize.Problem{Func: nll, Grad: grad}
	settings := &optimize.Settings{GradientThreshold: 1e-9, MajorIterations: 500}
	res, err := optimize.Minimize(p, []float64{0, 0}, settings, &optimize.BFGS{})
	if err != nil || res == nil || math.IsInf(res.F, 0) {
		// BFGS can stall on flat likelihoods; Nelder-Mead needs no gradient.
		res, err = optimize.Minimize(optimize.Problem{Func: nll}, []float64{0, 0}, &optimize.Settings{MajorIterations: 5000}, &optimize.NelderMead{})
		if err != nil || res == nil {
			return SBG{}, fmt.Errorf("%w: optimiser: %v", ErrSBGFit, err)
		}
	}
	m := SBG{Alpha: math.Exp(res.X[0]), Beta: math.Exp(res.X[1]), LogLikelihood: -res.F}
	// Parameters running off to 0 or infinity mean the data pin down only a
	// point mass (e.g. everybody with the same churn rate); treat as degenerate.
	const lo, hi = 1e-6, 1e6
	if !(m.Alpha > lo && m.Alpha < hi && m.Beta > lo && m.Beta < hi) || math.IsNaN(m.LogLikelihood) {
		return SBG{}, fmt.Errorf("%w: degenerate fit alpha=%g beta=%g", ErrSBGFit, m.Alpha, m.Beta)
	}
	return m, nil
}
