package clv

import (
	"cmp"
	"slices"
	"sort"

	"github.com/shopspring/decimal"
)

// The scales keep what a segmentation of the whole base decided in a few
// numbers, so that a customer whose values change later can be placed
// among the same base without ranking everybody again: TierScale for CLV
// tiers, RFMScale for RFM scores. Quadrant thresholds are two numbers
// already (Quadrant returns them, QuadrantAt applies them).

// TierScale is a base's tier values (TierInput.Value as float64), highest
// first.
type TierScale struct {
	Values []float64 `json:"values"`
}

// Assign returns the tier AssignTiers gives c when it ranks c among the
// scale's base and c: its percentile is the mean rank of its tie group over
// the base plus c, and Previous is kept within cfg.Margin as there.
func (s TierScale) Assign(c TierInput, cfg TierConfig) (TierAssignment, error) {
	place, err := s.Placer(cfg, false)
	if err != nil {
		return TierAssignment{}, err
	}
	return place(c), nil
}

// AssignMember returns the tier AssignTiers gives c when c is one of the
// base the scale was made from (its value among the scale's): its
// percentile is its tie group's mean rank over the base.
func (s TierScale) AssignMember(c TierInput, cfg TierConfig) (TierAssignment, error) {
	place, err := s.Placer(cfg, true)
	if err != nil {
		return TierAssignment{}, err
	}
	return place(c), nil
}

// Placer returns Assign (member false) or AssignMember (true) for cfg,
// validated and with its tier bounds made once, to place many customers.
func (s TierScale) Placer(cfg TierConfig, member bool) (func(TierInput) TierAssignment, error) {
	return TierPlacerOn(ValueSlice(s.Values), cfg, member)
}

// SortedValues is a tier scale's values, highest first, read one at a
// time: a caller that keeps a large base's values encoded (sync keeps them
// in the state file) places customers without decoding them all.
type SortedValues interface {
	Len() int
	At(i int) float64
}

// ValueSlice is SortedValues held in memory.
type ValueSlice []float64

func (v ValueSlice) Len() int         { return len(v) }
func (v ValueSlice) At(i int) float64 { return v[i] }

// TierPlacerOn is TierScale.Placer on values read one at a time (two
// binary searches a customer).
func TierPlacerOn(values SortedValues, cfg TierConfig, member bool) (func(TierInput) TierAssignment, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	placer := cfg.placer()
	return func(c TierInput) TierAssignment { return place(values, c, placer, member) }, nil
}

func place(values SortedValues, c TierInput, placer tierPlacer, member bool) TierAssignment {
	v := c.Value.InexactFloat64()
	// Values are highest first: above are those > v, upTo those >= v.
	n := values.Len()
	above := sort.Search(n, func(i int) bool { return values.At(i) <= v })
	upTo := above + sort.Search(n-above, func(i int) bool { return values.At(above+i) < v })
	// AssignTiers' percentile of a tie group from start to end-1 over n
	// customers is (start+end-1)/2/n; a newcomer joins the group and the
	// base.
	start, end := above, max(upTo, above+1)
	if !member {
		end, n = upTo+1, n+1
	}
	p := float64(start+end-1) / 2 / float64(max(n, 1))
	positive := c.Value.IsPositive()
	a := TierAssignment{ID: c.ID, Percentile: p}
	a.Tier, a.Kept = placer(p, positive, positive || above > 0, c.Previous)
	return a
}

// NewTierScaleOf keeps the given tier values (TierInput.Value as float64).
func NewTierScaleOf(values []float64) TierScale {
	v := slices.Clone(values)
	slices.SortFunc(v, func(a, b float64) int { return cmp.Compare(b, a) })
	return TierScale{Values: v}
}

// RFMKey is one customer's recency, frequency and monetary value as an
// RFMScale ranks them (see RFMKeyOf).
type RFMKey struct{ R, F, M float64 }

// RFMKeyOf is c's key for NewRFMScaleOf; ok is false for a customer without
// an order, whom RFM does not rank.
func RFMKeyOf(c RFMInput, cfg RFMConfig) (k RFMKey, ok bool) {
	if c.Orders <= 0 {
		return k, false
	}
	k.R, k.F, k.M = rfmValues(c, cfg.Monetary)
	return k, true
}

// NewRFMScaleOf scores the buyers' keys as ScoreRFM scores buyers, on the
// keys' order, and keeps the bounds: a run that cannot hold every
// customer's RFMInput keeps only their keys.
func NewRFMScaleOf(keys []RFMKey) RFMScale {
	var s RFMScale
	dim := make([]float64, len(keys))
	for _, d := range []struct {
		b   *RFMBounds
		get func(RFMKey) float64
	}{{&s.R, func(k RFMKey) float64 { return k.R }}, {&s.F, func(k RFMKey) float64 { return k.F }}, {&s.M, func(k RFMKey) float64 { return k.M }}} {
		for i, k := range keys {
			dim[i] = d.get(k)
		}
		slices.Sort(dim)
		*d.b = RFMBoundsOf(dim)
	}
	return s
}

// RFMBoundsOf is one dimension of NewRFMScaleOf's scale (recency,
// frequency or monetary value, as RFMKey holds them) from the buyers'
// values of that dimension sorted lowest first: a caller that keeps a large
// base's keys out of memory sorts one dimension at a time, and nothing
// more is allocated.
func RFMBoundsOf(sorted []float64) RFMBounds {
	var b RFMBounds
	n := len(sorted)
	scoreTieGroups(n, func(start int) int {
		end := start + 1
		for end < n && sorted[end] == sorted[start] {
			end++
		}
		return end
	}, func(start, _, score int) { b.lower(score, sorted[start]) })
	return b
}

// RFMScale holds, for each of recency, frequency and monetary value, the
// lowest value the base's customers with each score 1..5 had. Recency is
// the last purchase in Unix seconds; monetary value is revenue, or revenue
// per order with RFMMonetaryAverage.
type RFMScale struct {
	R, F, M RFMBounds
}

// RFMBounds is one dimension of an RFMScale: Min[k] is the lowest value
// with score k+1, where Has[k].
type RFMBounds struct {
	Min [5]float64 `json:"min"`
	Has [5]bool    `json:"has"`
}

// rfmValues is c's recency, frequency and monetary value as RFMScale keeps
// them.
func rfmValues(c RFMInput, monetary string) (r, f, m float64) {
	r, f, m = float64(c.Last.Unix()), float64(c.Orders), c.Revenue.InexactFloat64()
	if monetary == RFMMonetaryAverage && c.Orders > 0 {
		m = c.Revenue.DivRound(decimal.NewFromInt(int64(c.Orders)), 16).InexactFloat64()
	}
	return r, f, m
}

// lower makes v the bound of score when it is lower.
func (b *RFMBounds) lower(score int, v float64) {
	if k := score - 1; k >= 0 && k < 5 && (!b.Has[k] || v < b.Min[k]) {
		b.Min[k], b.Has[k] = v, true
	}
}

// Score scores c on the scale: on each of R, F and M the highest score whose
// lowest value c reaches, else the lowest score anybody had. Scores are
// monotone in the values, so every customer of the base the scale was made
// from (NewRFMScaleOf) scores as ScoreRFM scored it. A customer without an
// order scores 1, 1, 1, as there.
func (s RFMScale) Score(c RFMInput, cfg RFMConfig) (RFMScore, error) {
	score, err := s.Scorer(cfg)
	if err != nil {
		return RFMScore{}, err
	}
	return score(c), nil
}

// Scorer returns Score for cfg with its segment rules compiled once, to
// score many customers.
func (s RFMScale) Scorer(cfg RFMConfig) (func(RFMInput) RFMScore, error) {
	rules, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	return func(c RFMInput) RFMScore {
		out := RFMScore{ID: c.ID, R: 1, F: 1, M: 1}
		if c.Orders > 0 {
			r, f, m := rfmValues(c, cfg.Monetary)
			out.R, out.F, out.M = s.R.score(r), s.F.score(f), s.M.score(m)
		}
		out.Segment = rfmMatch(rules, out.R, out.F, out.M)
		return out
	}, nil
}

// score is the highest score whose bound v reaches, else the lowest score
// with a bound (3 when the base had no buyer: the middle, as a single
// customer scores).
func (b RFMBounds) score(v float64) int {
	lowest := 0
	for k := 4; k >= 0; k-- {
		if !b.Has[k] {
			continue
		}
		lowest = k + 1
		if v >= b.Min[k] {
			return k + 1
		}
	}
	if lowest == 0 {
		return 3
	}
	return lowest
}
