package clv

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// RFM monetary bases.
const (
	RFMMonetaryTotal   = "total"
	RFMMonetaryAverage = "average"
)

// RFMRule maps a range of scores to a segment. Each range is "lo-hi" or a
// single value, inclusive, with bounds in 1..5; an empty range matches
// anything. FM is matched against the average of F and M (so it can be x.5,
// and "3.5-5" is a valid range). Rules are tried in order and the first match
// wins.
type RFMRule struct {
	Segment string `yaml:"segment"`
	R       string `yaml:"r,omitempty"`
	F       string `yaml:"f,omitempty"`
	M       string `yaml:"m,omitempty"`
	FM      string `yaml:"fm,omitempty"`
}

// RFMConfig configures RFM scoring and segments.
type RFMConfig struct {
	// Monetary is RFMMonetaryTotal (revenue so far, default) or
	// RFMMonetaryAverage (revenue per order).
	Monetary string `yaml:"monetary"`
	// Rules map scores to segment names; they must cover all 125 (R, F, M)
	// combinations.
	Rules []RFMRule `yaml:"rules"`
}

// DefaultRFMRules returns the default map on R and the average of F and M,
// after the R-versus-average(F, M) grid of the common RFM guides (Putler and
// others), whose overlapping ranges are made into a partition:
//
//	R   FM 1-1.5         FM 2-3              FM 3.5              FM 4-5
//	5   New              Potential Loyalist  Loyal               Champions
//	4   Promising        Potential Loyalist  Loyal               Champions
//	3   About To Sleep (FM 1-2), Need Attention (FM 2.5-3), Loyal (FM 3.5-5)
//	2   Hibernating (FM 1-2.5), At Risk (FM 3-4), Can't Lose Them (FM 4.5-5)
//	1   Lost (FM 1-2.5),        At Risk (FM 3-4), Can't Lose Them (FM 4.5-5)
func DefaultRFMRules() []RFMRule {
	return []RFMRule{
		{Segment: "Champions", R: "4-5", FM: "4-5"},
		{Segment: "Loyal", R: "3-5", FM: "3.5-5"},
		{Segment: "New", R: "5", FM: "1-1.5"},
		{Segment: "Promising", R: "4", FM: "1-1.5"},
		{Segment: "Potential Loyalist", R: "4-5", FM: "2-3"},
		{Segment: "Need Attention", R: "3", FM: "2.5-3"},
		{Segment: "About To Sleep", R: "3", FM: "1-2"},
		{Segment: "Can't Lose Them", R: "1-2", FM: "4.5-5"},
		{Segment: "At Risk", R: "1-2", FM: "3-4"},
		{Segment: "Hibernating", R: "2", FM: "1-2.5"},
		{Segment: "Lost", R: "1", FM: "1-2.5"},
	}
}

// DefaultRFMConfig returns total monetary value and DefaultRFMRules.
func DefaultRFMConfig() RFMConfig {
	return RFMConfig{Monetary: RFMMonetaryTotal, Rules: DefaultRFMRules()}
}

// rfmRange is an inclusive range; any matches everything.
type rfmRange struct {
	lo, hi float64
	any    bool
}

func (r rfmRange) has(v float64) bool { return r.any || (v >= r.lo && v <= r.hi) }

// parseRFMRange parses "", "4", "4-5" or "3.5-5".
func parseRFMRange(s string) (rfmRange, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return rfmRange{any: true}, nil
	}
	loS, hiS, found := strings.Cut(s, "-")
	if !found {
		hiS = loS
	}
	lo, err1 := strconv.ParseFloat(strings.TrimSpace(loS), 64)
	hi, err2 := strconv.ParseFloat(strings.TrimSpace(hiS), 64)
	if err1 != nil || err2 != nil {
		return rfmRange{}, fmt.Errorf("%q is not a range like \"4-5\"", s)
	}
	if lo < 1 || hi > 5 || lo > hi {
		return rfmRange{}, fmt.Errorf("%q must lie within 1-5 with low <= high", s)
	}
	return rfmRange{lo: lo, hi: hi}, nil
}

// rfmCompiled is a parsed rule.
type rfmCompiled struct {
	segment     string
	r, f, m, fm rfmRange
}

// compile parses and checks the rules, including coverage.
func (c RFMConfig) compile() ([]rfmCompiled, error) {
	if c.Monetary != RFMMonetaryTotal && c.Monetary != RFMMonetaryAverage {
		return nil, fmt.Errorf("rfm.monetary must be %q or %q (got %q)", RFMMonetaryTotal, RFMMonetaryAverage, c.Monetary)
	}
	if len(c.Rules) == 0 {
		return nil, fmt.Errorf("rfm.rules must not be empty")
	}
	rules := make([]rfmCompiled, len(c.Rules))
	for i, r := range c.Rules {
		if strings.TrimSpace(r.Segment) == "" {
			return nil, fmt.Errorf("rfm.rules[%d].segment must not be empty", i)
		}
		rc := rfmCompiled{segment: r.Segment}
		for _, f := range []struct {
			name string
			s    string
			dst  *rfmRange
		}{{"r", r.R, &rc.r}, {"f", r.F, &rc.f}, {"m", r.M, &rc.m}, {"fm", r.FM, &rc.fm}} {
			rng, err := parseRFMRange(f.s)
			if err != nil {
				return nil, fmt.Errorf("rfm.rules[%d].%s: %w", i, f.name, err)
			}
			*f.dst = rng
		}
		rules[i] = rc
	}
	for r := 1; r <= 5; r++ {
		for f := 1; f <= 5; f++ {
			for m := 1; m <= 5; m++ {
				if rfmMatch(rules, r, f, m) == "" {
					return nil, fmt.Errorf("rfm.rules: no segment for R=%d F=%d M=%d", r, f, m)
				}
			}
		}
	}
	return rules, nil
}

// Validate reports the first invalid field, including any (R, F, M)
// combination that no rule covers.
func (c RFMConfig) Validate() error {
	_, err := c.compile()
	return err
}

// Segment returns the segment the rules give to scores (r, f, m), each 1..5.
func (c RFMConfig) Segment(r, f, m int) (string, error) {
	rules, err := c.compile()
	if err != nil {
		return "", err
	}
	for _, v := range []int{r, f, m} {
		if v < 1 || v > 5 {
			return "", fmt.Errorf("RFM scores must be 1..5 (got %d, %d, %d)", r, f, m)
		}
	}
	return rfmMatch(rules, r, f, m), nil
}

func rfmMatch(rules []rfmCompiled, r, f, m int) string {
	fm := float64(f+m) / 2
	for _, rl := range rules {
		if rl.r.has(float64(r)) && rl.f.has(float64(f)) && rl.m.has(float64(m)) && rl.fm.has(fm) {
			return rl.segment
		}
	}
	return ""
}

// RFMInput is one customer's purchase history in RFM terms (see
// HistoricalValue).
type RFMInput struct {
	ID      string
	Last    time.Time // last purchase
	Orders  int
	Revenue decimal.Decimal
}

// RFMScore is one customer's scores (1..5, 5 best) and segment.
type RFMScore struct {
	ID      string
	R, F, M int
	Segment string
}

// ScoreRFM scores every customer by quintile of recency (more recent = 5),
// frequency (orders) and monetary value, then names their segment.
//
// Each of R, F and M is scored on the buyers' values sorted ascending, and
// tied customers always share a score. How ties are split:
//
//   - With five or more distinct values, the quintiles are tie-aware: the
//     distinct values are taken in order and each score is closed once its
//     share of the customers not yet scored is as close as it can get to an
//     equal share of the scores left (remaining customers / remaining
//     scores); a score is also closed whenever the distinct values left are
//     just enough for the scores left. So every score 1..5 is used, and a
//     large tie takes one score without pushing the others out. On
//     frequency this acts as data-driven breakpoints for low counts: when
//     one-order buyers are half the base they are all F = 1 and the repeat
//     buyers are spread over F = 2..5 (on CDNOW as of 1998-06-30: one order
//     F1, 2 orders F2, 3 F3, 4-5 F4, 6+ F5), where plain quintiles by
//     midrank left F = 1 unused.
//   - With fewer than five distinct values, all five scores cannot be used;
//     a score is 1 + floor(5 x midrank percentile), where the midrank
//     percentile is (customers strictly worse + half the customers tied) /
//     customers, so small bases stay centred (a single customer scores 3, 3,
//     3).
//
// Five distinct customers score 1..5. Customers without an order are not
// ranked and get scores 1, 1, 1. Recency compares last purchase dates, so
// asOf is not needed. Results are in input order.
func ScoreRFM(in []RFMInput, cfg RFMConfig) ([]RFMScore, error) {
	rules, err := cfg.compile()
	if err != nil {
		return nil, err
	}
	var buyers []int
	for i, c := range in {
		if c.Orders > 0 {
			buyers = append(buyers, i)
		}
	}
	rec := make([]decimal.Decimal, len(buyers))
	freq := make([]decimal.Decimal, len(buyers))
	mon := make([]decimal.Decimal, len(buyers))
	for k, i := range buyers {
		c := in[i]
		rec[k] = decimal.NewFromInt(c.Last.Unix())
		freq[k] = decimal.NewFromInt(int64(c.Orders))
		mon[k] = c.Revenue
		if cfg.Monetary == RFMMonetaryAverage {
			mon[k] = c.Revenue.DivRound(freq[k], 16)
		}
	}
	rs, fs, ms := rfmQuintiles(rec), rfmQuintiles(freq), rfmQuintiles(mon)
	out := make([]RFMScore, len(in))
	for i, c := range in {
		out[i] = RFMScore{ID: c.ID, R: 1, F: 1, M: 1}
	}
	for k, i := range buyers {
		out[i].R, out[i].F, out[i].M = rs[k], fs[k], ms[k]
	}
	for i := range out {
		out[i].Segment = rfmMatch(rules, out[i].R, out[i].F, out[i].M)
	}
	return out, nil
}

// rfmQuintiles scores values 1..5, higher value = 5, tie-aware (see ScoreRFM).
func rfmQuintiles(v []decimal.Decimal) []int {
	return quintilesBy(len(v), func(a, b int) int { return v[a].Cmp(v[b]) })
}

// quintilesBy is rfmQuintiles over n values that cmp compares by index.
func quintilesBy(n int, cmp func(a, b int) int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return cmp(idx[a], idx[b]) < 0 })
	out := make([]int, n)
	scoreTieGroups(n, func(start int) int {
		end := start + 1
		for end < n && cmp(idx[end], idx[start]) == 0 {
			end++
		}
		return end
	}, func(start, end, score int) {
		for _, i := range idx[start:end] {
			out[i] = score
		}
	})
	return out
}

// scoreTieGroups scores n sorted values 1..5 as rfmQuintiles does, a tie
// group at a time: end(start) is the end of the group that begins at start,
// and score is called with each group and its score, lowest values first.
// It holds nothing per value or group (it walks the groups twice).
func scoreTieGroups(n int, end func(start int) int, score func(start, end, s int)) {
	groups := 0
	for start := 0; start < n; start = end(start) {
		groups++
	}
	if groups < 5 {
		for start := 0; start < n; {
			e := end(start)
			// (start + (end-start)/2) / n, kept in integers: 5*(2*start+tied) / (2n).
			score(start, e, min(1+5*(start+e)/(2*n), 5))
			start = e
		}
		return
	}
	s, inScore, remaining := 1, 0, n
	for j, start := 0, 0; start < n; j++ {
		e := end(start)
		size := e - start
		if inScore > 0 && s < 5 {
			target := float64(remaining) / float64(6-s)
			mustClose := groups-j <= 5-s
			if mustClose || math.Abs(float64(inScore+size)-target) > math.Abs(float64(inScore)-target) {
				remaining -= inScore
				s++
				inScore = 0
			}
		}
		score(start, e, s)
		inScore += size
		start = e
	}
}
