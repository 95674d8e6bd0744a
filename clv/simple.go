package clv

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// FlagKind names a class of caveat attached to a computed value.
type FlagKind string

// The caveats clv reports. Callers can show Flag.String() to marketers as is.
const (
	// FlagFallback: the probabilistic models could not be used and the
	// simple formulas were used instead.
	FlagFallback FlagKind = "fallback"
	// FlagClamped: a negative value was raised to zero.
	FlagClamped FlagKind = "clamped"
	// FlagNonFinite: a NaN or infinite model output was replaced by zero.
	FlagNonFinite FlagKind = "non-finite"
	// FlagShortHistory: the customer's own history was too short, so base
	// averages were used in its place.
	FlagShortHistory FlagKind = "short-history"
	// FlagLifespanCapped: the estimated lifespan hit the configured maximum.
	FlagLifespanCapped FlagKind = "lifespan-capped"
	// FlagNotConverged: a model series did not converge; the value is an
	// approximation.
	FlagNotConverged FlagKind = "not-converged"
)

// Flag is one caveat on a value, with a plain-language reason.
type Flag struct {
	Kind   FlagKind
	Reason string
}

// String returns "kind: reason", for example
// "fallback: simple formulas (12 repeat buyers, need 50)".
func (f Flag) String() string {
	if f.Reason == "" {
		return string(f.Kind)
	}
	return string(f.Kind) + ": " + f.Reason
}

// Flags is the list of caveats on a value. The zero value means none.
type Flags []Flag

// Has reports whether a flag of kind k is present.
func (fs Flags) Has(k FlagKind) bool {
	for _, f := range fs {
		if f.Kind == k {
			return true
		}
	}
	return false
}

// String joins the flags with "; ".
func (fs Flags) String() string {
	s := make([]string, len(fs))
	for i, f := range fs {
		s[i] = f.String()
	}
	return strings.Join(s, "; ")
}

// FallbackToSimple returns the flag for a value computed with the simple
// formulas because the probabilistic fit could not be used. reason says why in
// plain words, e.g. "only 12 repeat buyers, need 50".
func FallbackToSimple(reason string) Flag {
	return Flag{Kind: FlagFallback, Reason: "simple formulas (" + reason + ")"}
}

// ClampNonNegative returns d, or zero when d is negative; clamped reports the
// latter. Every CLV that clv emits passes through it.
func ClampNonNegative(d decimal.Decimal) (v decimal.Decimal, clamped bool) {
	if d.IsNegative() {
		return decimal.Zero, true
	}
	return d, false
}

// DecimalFromFloat converts a model output to a decimal. NaN and ±Inf become
// zero with ok false (decimal.NewFromFloat would panic on them).
func DecimalFromFloat(f float64) (d decimal.Decimal, ok bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return decimal.Zero, false
	}
	return decimal.NewFromFloat(f), true
}

// clampFlagged clamps d at zero and appends FlagClamped to fs when it did.
func clampFlagged(d decimal.Decimal, fs Flags) (decimal.Decimal, Flags) {
	v, clamped := ClampNonNegative(d)
	if clamped {
		fs = append(fs, Flag{Kind: FlagClamped, Reason: "negative value " + RoundMoney(d).StringFixed(2) + " reported as 0"})
	}
	return v, fs
}

// ByPurchases is the first marketers' formula: average profit per order x
// average number of purchases over a period (80 x 6 = 480).
func ByPurchases(profitPerOrder, purchases decimal.Decimal) decimal.Decimal {
	return profitPerOrder.Mul(purchases)
}

// ByLifespan is the second marketers' formula: value per period x average
// lifespan in periods (50 per month x 36 months = 1800).
func ByLifespan(valuePerPeriod, lifespan decimal.Decimal) decimal.Decimal {
	return valuePerPeriod.Mul(lifespan)
}

// SimpleConfig configures the simple formulas. All lengths are in periods of
// Unit.
type SimpleConfig struct {
	// Unit is the period: Month by default.
	Unit TimeUnit
	// Period is the horizon of the purchases formula, 36 by default
	// ("purchases per customer over 3 years").
	Period int
	// InactiveAfter: a customer whose last purchase is more than this many
	// periods before asOf counts as churned. Default 12.
	InactiveAfter int
	// MaxLifespan caps the estimated lifespan. Default 120 (10 years).
	MaxLifespan int
	// MinOrders and MinSpan: a customer with at least MinOrders orders over at
	// least MinSpan periods is valued with their own averages, others with
	// the base averages. Defaults 2 and 3.
	MinOrders int
	MinSpan   int
}

// DefaultSimpleConfig returns monthly periods, a 36-month horizon, churn after
// 12 months without a purchase, a 120-month lifespan cap, and own averages from
// 2 orders over 3 months.
func DefaultSimpleConfig() SimpleConfig {
	return SimpleConfig{Unit: Month, Period: 36, InactiveAfter: 12, MaxLifespan: 120, MinOrders: 2, MinSpan: 3}
}

// Validate reports the first invalid field.
func (c SimpleConfig) Validate() error {
	if c.Unit != Day && c.Unit != Week && c.Unit != Month {
		return fmt.Errorf("simple.unit: unknown time unit %d", c.Unit)
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"simple.period", c.Period}, {"simple.inactive_after", c.InactiveAfter}, {"simple.max_lifespan", c.MaxLifespan}, {"simple.min_orders", c.MinOrders}} {
		if f.v <= 0 {
			return fmt.Errorf("%s must be > 0 (got %d)", f.name, f.v)
		}
	}
	if c.MinSpan < 0 {
		return fmt.Errorf("simple.min_span must be >= 0 (got %d)", c.MinSpan)
	}
	return nil
}

// SimpleBase holds the base-wide averages behind the simple formulas, and the
// two formulas evaluated for an average customer. Rates are per period of
// Config.Unit. See the package doc for the estimators.
type SimpleBase struct {
	Config SimpleConfig
	AsOf   time.Time
	// Customers is the number of histories given; Buyers those with at least
	// one order; Churned the buyers inactive for more than InactiveAfter.
	Customers, Buyers, Churned int
	// Orders, Revenue and Profit are totals over all customers.
	Orders          int
	Revenue, Profit decimal.Decimal
	// CustomerPeriods is the customer-periods at risk: for each buyer,
	// periods from first purchase to last purchase (churned) or to asOf
	// (active), plus one for the period of the first purchase.
	CustomerPeriods decimal.Decimal
	// ProfitPerOrder is Profit / Orders.
	ProfitPerOrder decimal.Decimal
	// PurchaseRate is Orders / CustomerPeriods: purchases per active
	// customer per period.
	PurchaseRate decimal.Decimal
	// ValuePerPeriod is Profit / CustomerPeriods.
	ValuePerPeriod decimal.Decimal
	// ChurnRate is Churned / CustomerPeriods, the share of active customers
	// lost per period (0 <= ChurnRate <= 1).
	ChurnRate decimal.Decimal
	// Lifespan is 1 / ChurnRate in periods, capped at MaxLifespan.
	Lifespan decimal.Decimal
	// ActivePeriods is the expected number of active periods within Period:
	// (1 - (1-ChurnRate)^Period) / ChurnRate, or Period when nobody churned.
	ActivePeriods decimal.Decimal
	// Purchases is PurchaseRate x ActivePeriods: the average number of
	// purchases per customer over Period.
	Purchases decimal.Decimal
	// ByPurchases is ProfitPerOrder x Purchases, ByLifespan is
	// ValuePerPeriod x Lifespan; both clamped at zero.
	ByPurchases, ByLifespan decimal.Decimal
	Flags                   Flags
}

// simpleSpan returns the customer's periods at risk and whether they count as
// churned as of asOf. h must have at least one order.
func simpleSpan(h HistoricalValue, cfg SimpleConfig, asOf time.Time) (decimal.Decimal, bool) {
	churned := UnitsSince(h.Last, asOf, cfg.Unit).GreaterThan(decimal.NewFromInt(int64(cfg.InactiveAfter)))
	end := asOf
	if churned {
		end = h.Last
	}
	span := UnitsSince(h.First, end, cfg.Unit)
	if span.IsNegative() { // first purchase after asOf cannot happen via Historical, but stay safe
		span = decimal.Zero
	}
	return span.Add(decimal.NewFromInt(1)), churned
}

// simpleDiv divides at the internal precision, returning zero for a zero divisor.
func simpleDiv(a, b decimal.Decimal) decimal.Decimal {
	if b.IsZero() {
		return decimal.Zero
	}
	return a.DivRound(b, 16)
}

// NewSimpleBase computes the base-wide averages from every customer's history
// as of asOf (each built with Historical at the same asOf). It never fails on
// data: an empty base gives zeros and a flag; only the configuration is
// validated.
func NewSimpleBase(histories []HistoricalValue, cfg SimpleConfig, asOf time.Time) (SimpleBase, error) {
	sb, err := NewSimpleBaseBuilder(cfg, asOf)
	if err != nil {
		return SimpleBase{}, err
	}
	for _, h := range histories {
		sb.Add(h)
	}
	return sb.Base(), nil
}

// SimpleBaseBuilder makes a SimpleBase from one customer's history at a
// time, so the histories need not all be held: NewSimpleBase is Add for
// each, then Base.
type SimpleBaseBuilder struct{ b SimpleBase }

// NewSimpleBaseBuilder validates cfg and starts an empty base.
func NewSimpleBaseBuilder(cfg SimpleConfig, asOf time.Time) (*SimpleBaseBuilder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &SimpleBaseBuilder{b: SimpleBase{Config: cfg, AsOf: asOf}}, nil
}

// Add counts one customer's history (built with Historical at the base's
// asOf).
func (sb *SimpleBaseBuilder) Add(h HistoricalValue) {
	b := &sb.b
	b.Customers++
	b.Revenue = b.Revenue.Add(h.Revenue)
	b.Profit = b.Profit.Add(h.Profit)
	if h.Orders == 0 {
		return
	}
	b.Buyers++
	b.Orders += h.Orders
	span, churned := simpleSpan(h, b.Config, b.AsOf)
	b.CustomerPeriods = b.CustomerPeriods.Add(span)
	if churned {
		b.Churned++
	}
}

// Base returns the base-wide averages of the histories added.
func (sb *SimpleBaseBuilder) Base() SimpleBase {
	b := sb.b
	cfg := b.Config
	if b.Buyers == 0 {
		b.Flags = append(b.Flags, Flag{Kind: FlagShortHistory, Reason: "no customer has an order"})
		return b
	}
	orders := decimal.NewFromInt(int64(b.Orders))
	period := decimal.NewFromInt(int64(cfg.Period))
	maxLife := decimal.NewFromInt(int64(cfg.MaxLifespan))
	b.ProfitPerOrder = simpleDiv(b.Profit, orders)
	b.PurchaseRate = simpleDiv(orders, b.CustomerPeriods)
	b.ValuePerPeriod = simpleDiv(b.Profit, b.CustomerPeriods)
	b.ChurnRate = simpleDiv(decimal.NewFromInt(int64(b.Churned)), b.CustomerPeriods)
	if b.Churned == 0 {
		b.Lifespan = maxLife
		b.Flags = append(b.Flags, Flag{Kind: FlagLifespanCapped, Reason: "no churned customer observed; lifespan set to the maximum"})
		b.ActivePeriods = period
	} else {
		b.Lifespan = simpleDiv(b.CustomerPeriods, decimal.NewFromInt(int64(b.Churned)))
		if b.Lifespan.GreaterThan(maxLife) {
			b.Lifespan = maxLife
			b.Flags = append(b.Flags, Flag{Kind: FlagLifespanCapped, Reason: "estimated lifespan above the maximum"})
		}
		// A count of periods, not money: float is fine here.
		c := b.ChurnRate.InexactFloat64()
		ap, ok := DecimalFromFloat((1 - math.Pow(1-c, float64(cfg.Period))) / c)
		if !ok {
			ap = period
		}
		b.ActivePeriods = ap
	}
	// Multiply before dividing so the worked examples come out exact.
	b.Purchases = simpleDiv(orders.Mul(b.ActivePeriods), b.CustomerPeriods)
	b.ByPurchases, b.Flags = clampFlagged(ByPurchases(b.ProfitPerOrder, b.Purchases), b.Flags)
	b.ByLifespan, b.Flags = clampFlagged(simpleDiv(b.Profit.Mul(b.Lifespan), b.CustomerPeriods), b.Flags)
	return b
}

// SimpleValue is one customer's CLV by the simple formulas. The values are
// whole-lifetime estimates (history included), not residual values.
type SimpleValue struct {
	// Churned: no purchase for more than InactiveAfter periods. A churned
	// customer's lifetime is over, so both values equal their historical
	// profit.
	Churned bool
	// OwnRates reports that the customer's own averages were used; otherwise
	// the base averages were (and Flags has FlagShortHistory).
	OwnRates bool
	// ProfitPerOrder, PurchaseRate and ValuePerPeriod are the inputs used.
	ProfitPerOrder, PurchaseRate, ValuePerPeriod decimal.Decimal
	// Lifespan is the lifespan used: the base lifespan, or the customer's
	// own span so far when longer.
	Lifespan decimal.Decimal
	// ByPurchases = ProfitPerOrder x PurchaseRate x base ActivePeriods;
	// ByLifespan = ValuePerPeriod x Lifespan. Both are >= 0.
	ByPurchases, ByLifespan decimal.Decimal
	Flags                   Flags
}

// Customer returns the simple CLV of one customer whose history h was built
// as of b.AsOf.
func (b SimpleBase) Customer(h HistoricalValue) SimpleValue {
	var v SimpleValue
	if h.Orders == 0 {
		return v
	}
	cfg := b.Config
	span, churned := simpleSpan(h, cfg, b.AsOf)
	v.Churned = churned
	if churned {
		v.ByPurchases, v.Flags = clampFlagged(h.Profit, v.Flags)
		v.ByLifespan = v.ByPurchases
		v.Lifespan = span
		return v
	}
	orders := decimal.NewFromInt(int64(h.Orders))
	if h.Orders >= cfg.MinOrders && span.GreaterThanOrEqual(decimal.NewFromInt(int64(cfg.MinSpan))) {
		v.OwnRates = true
		v.ProfitPerOrder = simpleDiv(h.Profit, orders)
		v.PurchaseRate = simpleDiv(orders, span)
		v.ValuePerPeriod = simpleDiv(h.Profit, span)
	} else {
		v.ProfitPerOrder, v.PurchaseRate, v.ValuePerPeriod = b.ProfitPerOrder, b.PurchaseRate, b.ValuePerPeriod
		v.Flags = append(v.Flags, Flag{Kind: FlagShortHistory, Reason: fmt.Sprintf("%d orders over %s periods; base averages used", h.Orders, span.StringFixed(1))})
	}
	v.Lifespan = decimal.Max(b.Lifespan, span)
	if v.OwnRates {
		v.ByPurchases, v.Flags = clampFlagged(simpleDiv(h.Profit.Mul(b.ActivePeriods), span), v.Flags)
		v.ByLifespan, v.Flags = clampFlagged(simpleDiv(h.Profit.Mul(v.Lifespan), span), v.Flags)
	} else {
		v.ByPurchases, v.Flags = clampFlagged(ByPurchases(v.ProfitPerOrder, b.Purchases), v.Flags)
		v.ByLifespan, v.Flags = clampFlagged(ByLifespan(v.ValuePerPeriod, v.Lifespan), v.Flags)
	}
	return v
}
