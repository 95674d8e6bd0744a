package clv

import (
	"fmt"
	"math"

	"github.com/shopspring/decimal"
)

// DaysPerMonth is the average month length used to convert horizons in
// months into model time: 365.25/12 days.
const DaysPerMonth = 365.25 / 12

// Model time units per month in lifetimes' convention
// (utils._customer_lifetime_value: {'W': 4.345, 'M': 1, 'D': 30}), which
// clvsync follows for horizons and discounting.
const (
	WeeksPerMonth   = 4.345
	DaysPerCLVMonth = 30
)

// UnitsPerMonth returns the number of model time units in one month of the
// CLV horizon, in lifetimes' convention: 4.345 for weeks, 30 for days and 1
// for months. (The exact average month, DaysPerMonth, is 4.348 weeks or
// 30.44 days; lifetimes' figures are reproduced only with its own.)
func UnitsPerMonth(unit TimeUnit) float64 {
	switch unit {
	case Week:
		return WeeksPerMonth
	case Day:
		return DaysPerCLVMonth
	}
	return 1
}

// Prediction is a customer's forecast over a horizon. All values are finite
// and non-negative.
type Prediction struct {
	// ExpectedPurchases is the expected number of purchases over the horizon.
	ExpectedPurchases float64
	// PAlive is the probability that the customer is alive at T.
	PAlive float64
	// ExpectedSpend is the Gamma-Gamma expected spend per purchase.
	ExpectedSpend float64
	// CLV is the discounted expected spend over the horizon.
	CLV float64
	// Flags lists caveats: FlagNotConverged when the expected-purchases
	// series did not converge (the values are then approximate).
	Flags Flags
}

// seriesModel is a purchase model whose E[Y] can report convergence.
type seriesModel interface {
	conditionalExpectedOK(t float64, s Summary) (float64, bool)
}

// CLV returns the customer's expected discounted spend over horizonMonths
// months, following lifetimes (section 5 of the model notes): each month's
// expected purchases E[Y(k·f)] − E[Y((k−1)·f)] times the expected spend,
// discounted at the end of month k by (1+monthlyDiscount)^k, with f =
// unitsPerMonth model time units per month.
func CLV(m PurchaseModel, expectedSpend float64, s Summary, horizonMonths int, monthlyDiscount, unitsPerMonth float64) float64 {
	total, prev := 0.0, 0.0
	disc := 1.0
	for k := 1; k <= horizonMonths; k++ {
		disc /= 1 + monthlyDiscount
		cur := m.ConditionalExpected(float64(k)*unitsPerMonth, s)
		if d := cur - prev; d > 0 {
			total += expectedSpend * d * disc
		}
		prev = cur
	}
	return finiteNonNeg(total)
}

// finiteNonNeg maps NaN and negatives to 0 and +Inf to the largest float.
func finiteNonNeg(v float64) float64 {
	switch {
	case math.IsNaN(v) || v < 0:
		return 0
	case math.IsInf(v, 1):
		return math.MaxFloat64
	}
	return v
}

// Predict returns the customer's forecast over horizonMonths months at a
// monthly discount rate, with unitsPerMonth model time units per month (use
// UnitsPerMonth(unit) unless reproducing another tool's convention; a value
// <= 0 means 1). It never returns NaN, Inf or negative values.
func (f *Fitted) Predict(s Summary, horizonMonths int, monthlyDiscount float64, unitsPerMonth float64) Prediction {
	if unitsPerMonth <= 0 || !isFinite(unitsPerMonth) {
		unitsPerMonth = 1
	}
	if !isFinite(monthlyDiscount) || monthlyDiscount <= -1 {
		monthlyDiscount = 0
	}
	horizonMonths = max(horizonMonths, 0)
	spend := f.ExpectedSpend(s)
	horizon := float64(horizonMonths) * unitsPerMonth
	p := Prediction{
		ExpectedPurchases: finiteNonNeg(f.Purchase.ConditionalExpected(horizon, s)),
		PAlive:            math.Min(finiteNonNeg(f.Purchase.PAlive(s)), 1),
		ExpectedSpend:     spend,
		CLV:               CLV(f.Purchase, spend, s, horizonMonths, monthlyDiscount, unitsPerMonth),
	}
	// The series converges slowest at the longest horizon; check it there.
	if sm, ok := f.Purchase.(seriesModel); ok {
		if _, conv := sm.conditionalExpectedOK(horizon, s); !conv {
			p.Flags = append(p.Flags, Flag{Kind: FlagNotConverged, Reason: fmt.Sprintf(
				"expected purchases over %.4g time units: hypergeometric series did not converge in %d terms; values are approximate", horizon, maxSeriesTerms)})
		}
	}
	return p
}

// DecimalCLV converts a model value (such as Prediction.CLV) to a decimal
// rounded half away from zero to 4 places; NaN, Inf and negatives become 0.
func DecimalCLV(v float64) decimal.Decimal {
	return decimal.NewFromFloat(finiteNonNeg(v)).Round(4)
}
