package clv

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// QuadrantNames names the four cells of the CLV x relationship-length grid.
type QuadrantNames struct {
	HighLong  string
	HighShort string
	LowLong   string
	LowShort  string
}

// QuadrantConfig configures the CLV x relationship-length quadrant. A nil
// threshold means the median of the customers being classified.
type QuadrantConfig struct {
	// CLVThreshold: CLV >= threshold is "high".
	CLVThreshold *decimal.Decimal
	// MonthsThreshold: a relationship of >= this many months is "long".
	MonthsThreshold *float64
	Names           QuadrantNames
}

// DefaultQuadrantConfig uses the medians and these names:
//
//	             long relationship   short relationship
//	high CLV     Stars               Rising Stars
//	low CLV      Steady              Newcomers
//
// Stars are the established, valuable core to retain; Rising Stars are
// valuable early, to nurture into Stars; Steady customers have stayed long
// but spend little, candidates for upsell; Newcomers are recent and small,
// for onboarding.
func DefaultQuadrantConfig() QuadrantConfig {
	return QuadrantConfig{Names: QuadrantNames{HighLong: "Stars", HighShort: "Rising Stars", LowLong: "Steady", LowShort: "Newcomers"}}
}

// Validate reports the first invalid field.
func (c QuadrantConfig) Validate() error {
	if c.CLVThreshold != nil && c.CLVThreshold.IsNegative() {
		return fmt.Errorf("quadrant.clv_threshold must be >= 0 (got %s)", c.CLVThreshold)
	}
	if c.MonthsThreshold != nil && !(*c.MonthsThreshold >= 0) {
		return fmt.Errorf("quadrant.months_threshold must be >= 0 (got %v)", *c.MonthsThreshold)
	}
	seen := map[string]string{}
	for _, f := range []struct{ key, v string }{
		{"quadrant.names.high_long", c.Names.HighLong}, {"quadrant.names.high_short", c.Names.HighShort},
		{"quadrant.names.low_long", c.Names.LowLong}, {"quadrant.names.low_short", c.Names.LowShort},
	} {
		if strings.TrimSpace(f.v) == "" {
			return fmt.Errorf("%s must not be empty", f.key)
		}
		if other, ok := seen[f.v]; ok {
			return fmt.Errorf("%s: name %q already used by %s", f.key, f.v, other)
		}
		seen[f.v] = f.key
	}
	return nil
}

// QuadrantInput is one customer to classify.
type QuadrantInput struct {
	ID  string
	CLV decimal.Decimal
	// Months is the relationship length in months (see RelationshipMonths).
	Months float64
}

// QuadrantCell is one customer's cell.
type QuadrantCell struct {
	ID         string
	High, Long bool
	Name       string
}

// RelationshipMonths returns the calendar months (see UnitsSince) from since, the
// acquisition or first-purchase date, to asOf; 0 if since is later.
func RelationshipMonths(since, asOf time.Time) float64 {
	if !asOf.After(since) {
		return 0
	}
	return UnitsSince(since, asOf, Month).InexactFloat64()
}

// Quadrant classifies customers by CLV (high when >= the threshold) and
// relationship length (long when >= the threshold). Median thresholds are
// computed over the given customers (the mean of the two middle values for an
// even count), so at least half are high and half long. It also returns the
// thresholds used. Results are in input order.
func Quadrant(in []QuadrantInput, cfg QuadrantConfig) ([]QuadrantCell, decimal.Decimal, float64, error) {
	if err := cfg.Validate(); err != nil {
		return nil, decimal.Zero, 0, err
	}
	clvs, months := make([]decimal.Decimal, len(in)), make([]float64, len(in))
	for i, c := range in {
		clvs[i], months[i] = c.CLV, c.Months
	}
	clvT, monthsT := QuadrantThresholds(clvs, months, cfg)
	out := make([]QuadrantCell, len(in))
	for i, c := range in {
		out[i] = QuadrantAt(c, clvT, monthsT, cfg)
	}
	return out, clvT, monthsT, nil
}

// QuadrantThresholds returns the thresholds Quadrant classifies customers
// with CLV values clvs and relationship months by: the configured ones, else
// the medians (the mean of the two middle values for an even count). It
// sorts both slices.
func QuadrantThresholds(clvs []decimal.Decimal, months []float64, cfg QuadrantConfig) (decimal.Decimal, float64) {
	var clvT decimal.Decimal
	var monthsT float64
	if cfg.CLVThreshold != nil {
		clvT = *cfg.CLVThreshold
	} else if n := len(clvs); n > 0 {
		sort.Slice(clvs, func(a, b int) bool { return clvs[a].LessThan(clvs[b]) })
		clvT = clvs[n/2]
		if n%2 == 0 {
			clvT = clvs[n/2-1].Add(clvT).Div(decimal.NewFromInt(2))
		}
	}
	if cfg.MonthsThreshold != nil {
		monthsT = *cfg.MonthsThreshold
	} else if n := len(months); n > 0 {
		sort.Float64s(months)
		monthsT = months[n/2]
		if n%2 == 0 {
			monthsT = (months[n/2-1] + monthsT) / 2
		}
	}
	return clvT, monthsT
}

// QuadrantAt classifies one customer against given thresholds, as Quadrant
// does.
func QuadrantAt(c QuadrantInput, clvT decimal.Decimal, monthsT float64, cfg QuadrantConfig) QuadrantCell {
	q := QuadrantCell{ID: c.ID, High: c.CLV.GreaterThanOrEqual(clvT), Long: c.Months >= monthsT}
	switch {
	case q.High && q.Long:
		q.Name = cfg.Names.HighLong
	case q.High:
		q.Name = cfg.Names.HighShort
	case q.Long:
		q.Name = cfg.Names.LowLong
	default:
		q.Name = cfg.Names.LowShort
	}
	return q
}
