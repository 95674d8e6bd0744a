package clv

import (
	"fmt"
	"math"
	"sort"

	"github.com/shopspring/decimal"
)

// Tier bases: which CLV the tiers rank.
const (
	TierBasisPredicted = "predicted"
	TierBasisTotal     = "total"
)

// TierConfig configures CLV tiers.
type TierConfig struct {
	// Basis is the value ranked: TierBasisPredicted (default) or
	// TierBasisTotal. The caller picks the values accordingly; clv only
	// validates the name.
	Basis string
	// Names are the tier names, top tier first.
	Names []string
	// Cuts are the shares of customers in each tier, top first; they are
	// positive and sum to 1.
	Cuts []float64
	// Margin is the hysteresis margin in percentile points as a fraction
	// (0.05 = 5 points): a customer leaves their previous tier only when
	// their percentile is past that tier's boundary by more than Margin.
	// 0 disables hysteresis.
	Margin float64
}

// DefaultTierConfig returns top 20 % / middle 60 % / bottom 20 % of predicted
// CLV, without hysteresis.
func DefaultTierConfig() TierConfig {
	return TierConfig{Basis: TierBasisPredicted, Names: []string{"top", "middle", "bottom"}, Cuts: []float64{0.2, 0.6, 0.2}}
}

// Validate reports the first invalid field.
func (c TierConfig) Validate() error {
	if c.Basis != TierBasisPredicted && c.Basis != TierBasisTotal {
		return fmt.Errorf("tiers.basis must be %q or %q (got %q)", TierBasisPredicted, TierBasisTotal, c.Basis)
	}
	if len(c.Names) == 0 {
		return fmt.Errorf("tiers.names must not be empty")
	}
	if len(c.Cuts) != len(c.Names) {
		return fmt.Errorf("tiers.cuts must have one share per name (%d names, %d cuts)", len(c.Names), len(c.Cuts))
	}
	seen := map[string]bool{}
	for i, n := range c.Names {
		if n == "" {
			return fmt.Errorf("tiers.names[%d] must not be empty", i)
		}
		if seen[n] {
			return fmt.Errorf("tiers.names[%d]: duplicate name %q", i, n)
		}
		seen[n] = true
	}
	var sum float64
	for i, s := range c.Cuts {
		if !(s > 0) || s > 1 {
			return fmt.Errorf("tiers.cuts[%d] must be in (0, 1] (got %v)", i, s)
		}
		sum += s
	}
	if math.Abs(sum-1) > 1e-9 {
		return fmt.Errorf("tiers.cuts must sum to 1 (got %v)", sum)
	}
	if !(c.Margin >= 0 && c.Margin < 1) {
		return fmt.Errorf("tiers.margin must be in [0, 1) (got %v)", c.Margin)
	}
	return nil
}

// TierInput is one customer to place in a tier.
type TierInput struct {
	ID    string
	Value decimal.Decimal
	// Previous is the tier written last time, or "" for none. A name that is
	// not in the configuration is ignored.
	Previous string
}

// TierAssignment is one customer's tier.
type TierAssignment struct {
	ID   string
	Tier string
	// Percentile is the rank used for the cut: the share of customers with
	// a strictly higher value (0 for the top customer), averaged over the
	// customer's tie group (see AssignTiers).
	Percentile float64
	// Kept reports that hysteresis kept the previous tier where the
	// percentile alone would have moved the customer.
	Kept bool
}

// AssignTiers places each customer in a tier by percentile rank of Value.
//
// Ties: customers with equal values form one group and always share a tier.
// A group's Percentile is the mean, over its members, of the share of
// customers with a strictly higher value (for a customer without ties: the
// share of customers above them, 0 for the top customer), so a tie is placed
// where its middle falls rather than where its best member would be: an
// all-equal base of two or more customers lands in the middle of the ranking,
// not 100 % in the top tier. Tier i holds percentiles in
// [Cuts[0]+…+Cuts[i-1], Cuts[0]+…+Cuts[i]).
//
// Zero: customers whose value is zero or less never rank above a positive
// one; they all go to the last (bottom) tier. When no customer has a
// positive value, nobody gets a tier (Tier is "" for all): there is nothing
// to rank.
//
// The result is sorted by value, highest first, then by ID.
//
// With Margin > 0, a customer whose Previous tier is configured keeps it
// unless their percentile is below that tier's lower bound minus Margin or at
// or above its upper bound plus Margin. Hysteresis never lifts a zero-value
// customer out of the bottom tier.
func AssignTiers(in []TierInput, cfg TierConfig) ([]TierAssignment, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	place := cfg.placer()
	sorted := make([]TierInput, len(in))
	copy(sorted, in)
	sort.SliceStable(sorted, func(i, j int) bool {
		if c := sorted[i].Value.Cmp(sorted[j].Value); c != 0 {
			return c > 0
		}
		return sorted[i].ID < sorted[j].ID
	})
	n := float64(len(sorted))
	out := make([]TierAssignment, len(sorted))
	for start := 0; start < len(sorted); {
		end := start + 1
		for end < len(sorted) && sorted[end].Value.Equal(sorted[start].Value) {
			end++
		}
		// Mean of start, start+1, …, end-1 customers strictly above.
		p := float64(start+end-1) / 2 / n
		positive := sorted[start].Value.IsPositive()
		for i := start; i < end; i++ {
			c := sorted[i]
			a := TierAssignment{ID: c.ID, Percentile: p}
			a.Tier, a.Kept = place(p, positive, positive || start > 0, c.Previous)
			out[i] = a
		}
		start = end
	}
	return out, nil
}

// tierPlacer is the tier rule of AssignTiers for a customer at percentile
// p: positive says whether its value is, anyPositive whether anybody's is;
// previous is its previous tier, kept within Margin.
type tierPlacer func(p float64, positive, anyPositive bool, previous string) (tier string, kept bool)

// placer returns cfg's tierPlacer.
func (cfg TierConfig) placer() tierPlacer {
	bounds := make([]float64, len(cfg.Cuts)+1) // bounds[i] = lower bound of tier i
	for i, s := range cfg.Cuts {
		bounds[i+1] = bounds[i] + s
	}
	bounds[len(cfg.Cuts)] = 1 // absorb float error in the last cut
	index := map[string]int{}
	for i, n := range cfg.Names {
		index[n] = i
	}
	last := len(cfg.Names) - 1
	return func(p float64, positive, anyPositive bool, previous string) (string, bool) {
		switch {
		case !anyPositive:
			return "", false
		case !positive:
			return cfg.Names[last], false
		}
		tier := last
		for k := range cfg.Names {
			if p < bounds[k+1]-1e-12 {
				tier = k
				break
			}
		}
		if prev, ok := index[previous]; ok && cfg.Margin > 0 && prev != tier {
			if p >= bounds[prev]-cfg.Margin && p < bounds[prev+1]+cfg.Margin {
				return cfg.Names[prev], true
			}
		}
		return cfg.Names[tier], false
	}
}

// ChurnRisk is a churn-risk band derived from P(alive).
type ChurnRisk string

// The churn-risk bands. RiskUnknown is returned for a P(alive) that is NaN or
// outside [0, 1].
const (
	RiskLow     ChurnRisk = "low"
	RiskMedium  ChurnRisk = "medium"
	RiskHigh    ChurnRisk = "high"
	RiskUnknown ChurnRisk = "unknown"
)

// ChurnRiskConfig holds the P(alive) thresholds: risk is high below High,
// medium below Medium, low otherwise. ChurnRiskFor also reads recency against
// the buying rhythm: a customer silent for LateMedium rhythms is at least
// medium risk, for LateHigh rhythms high risk (0 selects the defaults 2 and
// 4).
type ChurnRiskConfig struct {
	High, Medium         float64
	LateMedium, LateHigh float64
}

// DefaultChurnRiskConfig returns high below 0.3 and medium below 0.7.
func DefaultChurnRiskConfig() ChurnRiskConfig {
	return ChurnRiskConfig{High: 0.3, Medium: 0.7}
}

// Validate reports the first invalid field.
func (c ChurnRiskConfig) Validate() error {
	if !(c.High >= 0 && c.High <= 1) {
		return fmt.Errorf("churn_risk.high must be in [0, 1] (got %v)", c.High)
	}
	if !(c.Medium >= c.High && c.Medium <= 1) {
		return fmt.Errorf("churn_risk.medium must be in [churn_risk.high, 1] (got %v, high %v)", c.Medium, c.High)
	}
	lm, lh := c.late()
	if !(c.LateMedium >= 0) || math.IsInf(c.LateMedium, 0) || !(c.LateHigh >= 0) || math.IsInf(c.LateHigh, 0) || lh < lm {
		return fmt.Errorf("churn_risk late multiples must be finite, >= 0 and late_high >= late_medium (got %v, %v)", c.LateMedium, c.LateHigh)
	}
	return nil
}

// late returns LateMedium and LateHigh with the defaults filled in.
func (c ChurnRiskConfig) late() (medium, high float64) {
	medium, high = c.LateMedium, c.LateHigh
	if medium == 0 {
		medium = 2
	}
	if high == 0 {
		high = max(4, medium)
	}
	return medium, high
}

// BuyingRhythm returns the base's typical time between purchases, in the
// summaries' time unit: the median over repeat buyers (X > 0) of their mean
// inter-purchase time Tx/X. It returns 0 when nobody bought twice.
func BuyingRhythm(summaries []Summary) float64 {
	var gaps []float64
	for _, s := range summaries {
		if s.X > 0 && s.Tx > 0 && isFinite(s.Tx/s.X) {
			gaps = append(gaps, s.Tx/s.X)
		}
	}
	if len(gaps) == 0 {
		return 0
	}
	sort.Float64s(gaps)
	m := len(gaps) / 2
	if len(gaps)%2 == 1 {
		return gaps[m]
	}
	return (gaps[m-1] + gaps[m]) / 2
}

// ChurnRiskFor returns a customer's churn-risk band from P(alive) read
// together with recency. P(alive) alone misleads for one-time buyers: BG/NBD
// assumes nobody drops out before a repeat purchase, so a customer who bought
// once years ago has P(alive) 1.
//
// The customer's rhythm is their mean time between purchases shrunk towards
// the base's with one pseudo-interval, (Tx + baseRhythm) / (X + 1); for a
// one-time buyer it is the base's rhythm (see BuyingRhythm). Lateness is the
// time since the last purchase, T - Tx, in rhythms. The band is the worse of
// cfg.Risk(pAlive) and the lateness band: high from cfg.LateHigh rhythms
// (default 4), at least medium from cfg.LateMedium (default 2). For an
// active customer buying as a Poisson process, a silence of 2 mean gaps has
// probability e^-2 = 14 %, of 4 gaps 1.8 %. With baseRhythm <= 0 (unknown)
// and no repeat purchase, only P(alive) is read.
func ChurnRiskFor(cfg ChurnRiskConfig, pAlive float64, s Summary, baseRhythm float64) ChurnRisk {
	risk := cfg.Risk(pAlive)
	if risk == RiskUnknown || risk == RiskHigh {
		return risk
	}
	if !(baseRhythm > 0) || math.IsInf(baseRhythm, 0) {
		baseRhythm = 0
	}
	rhythm := (s.Tx + baseRhythm) / (s.X + 1)
	if !(rhythm > 0) || !isFinite(rhythm) || !isFinite(s.T-s.Tx) {
		return risk
	}
	lm, lh := cfg.late()
	switch late := (s.T - s.Tx) / rhythm; {
	case late >= lh:
		return RiskHigh
	case late >= lm && risk == RiskLow:
		return RiskMedium
	}
	return risk
}

// Risk returns the churn-risk band for a probability of being alive.
func (c ChurnRiskConfig) Risk(pAlive float64) ChurnRisk {
	switch {
	case !(pAlive >= 0 && pAlive <= 1):
		return RiskUnknown
	case pAlive < c.High:
		return RiskHigh
	case pAlive < c.Medium:
		return RiskMedium
	default:
		return RiskLow
	}
}
