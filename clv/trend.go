package clv

import (
	"fmt"
	"math"
	"sort"
	"time"

	"github.com/shopspring/decimal"
)

// TrendDirection is how a customer's CLV moved over the trend window.
type TrendDirection string

// The trend directions.
const (
	TrendRising  TrendDirection = "rising"
	TrendStable  TrendDirection = "stable"
	TrendFalling TrendDirection = "falling"
	// TrendNew: there is no earlier value to compare with.
	TrendNew TrendDirection = "new"
	// TrendUnknown: a value is negative, which clv never emits, so the
	// history is not trusted.
	TrendUnknown TrendDirection = "unknown"
)

// TrendPoint is a CLV computed at a point in time (an earlier run).
type TrendPoint struct {
	At    time.Time
	Value decimal.Decimal
}

// TrendConfig configures CLV trends.
type TrendConfig struct {
	// Window is how far back the baseline is taken. Default 90 days.
	Window time.Duration
	// StableBand is the relative change, as a fraction, within which the
	// trend is stable (inclusive). Default 0.05 (±5 %).
	StableBand float64
}

// DefaultTrendConfig returns a 90-day window and a ±5 % stable band.
func DefaultTrendConfig() TrendConfig {
	return TrendConfig{Window: 90 * 24 * time.Hour, StableBand: 0.05}
}

// Validate reports the first invalid field.
func (c TrendConfig) Validate() error {
	if c.Window <= 0 {
		return fmt.Errorf("trend.window must be > 0 (got %s)", c.Window)
	}
	if !(c.StableBand >= 0) || math.IsInf(c.StableBand, 0) {
		return fmt.Errorf("trend.stable_band must be >= 0 (got %v)", c.StableBand)
	}
	return nil
}

// TrendResult is a customer's CLV trend.
type TrendResult struct {
	Direction TrendDirection
	// Baseline is the earlier point compared with; zero for TrendNew.
	Baseline TrendPoint
	// ChangePct is the change in percent, (current - baseline) / baseline x
	// 100, at full precision (-100 for a fall to 0). HasChange is false when
	// it is undefined: no baseline, or a baseline of 0.
	ChangePct decimal.Decimal
	HasChange bool
}

// Trend compares current with the value one window earlier: the latest point
// in history at or before current.At - Window, or, when the history is
// shorter than the window, its earliest point before current.At. Points at or
// after current.At are ignored, and history need not be sorted. A rise from 0
// is rising without a percentage; 0 to 0 is stable.
func Trend(history []TrendPoint, current TrendPoint, cfg TrendConfig) (TrendResult, error) {
	if err := cfg.Validate(); err != nil {
		return TrendResult{}, err
	}
	var earlier []TrendPoint
	for _, p := range history {
		if p.At.Before(current.At) {
			earlier = append(earlier, p)
		}
	}
	if len(earlier) == 0 {
		return TrendResult{Direction: TrendNew}, nil
	}
	sort.SliceStable(earlier, func(i, j int) bool { return earlier[i].At.Before(earlier[j].At) })
	cutoff := current.At.Add(-cfg.Window)
	base := earlier[0]
	for _, p := range earlier {
		if p.At.After(cutoff) {
			break
		}
		base = p
	}
	r := TrendResult{Baseline: base}
	switch {
	case base.Value.IsNegative() || current.Value.IsNegative():
		r.Direction = TrendUnknown
		return r, nil
	case base.Value.IsZero():
		r.Direction = TrendStable
		if current.Value.IsPositive() {
			r.Direction = TrendRising
		} else {
			r.HasChange = true // 0 -> 0 is a 0 % change
		}
		return r, nil
	}
	r.HasChange = true
	r.ChangePct = current.Value.Sub(base.Value).Mul(decimal.NewFromInt(100)).DivRound(base.Value, 16)
	band, _ := DecimalFromFloat(cfg.StableBand * 100)
	switch {
	case r.ChangePct.GreaterThan(band):
		r.Direction = TrendRising
	case r.ChangePct.LessThan(band.Neg()):
		r.Direction = TrendFalling
	default:
		r.Direction = TrendStable
	}
	return r, nil
}
