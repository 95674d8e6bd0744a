package clv

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// randomTierBase is a base for the tier scale tests: few distinct values,
// some zero or negative so ties are common (every third trial cents values),
// random previous tiers, and hysteresis on odd trials.
func randomTierBase(rng *rand.Rand, trial int) ([]TierInput, []float64, TierConfig) {
	cfg := DefaultTierConfig()
	if trial%2 == 1 {
		cfg.Margin = 0.05
	}
	n := 1 + rng.IntN(60)
	base, values := make([]TierInput, n), make([]float64, n)
	for i := range base {
		v := decimal.NewFromInt(int64(rng.IntN(12)-2) * 100)
		if trial%3 == 0 {
			v = decimal.NewFromInt(int64(rng.IntN(1000))).Div(decimal.NewFromInt(7)).Round(2)
		}
		base[i] = TierInput{ID: fmt.Sprintf("b%03d", i), Value: v, Previous: cfg.Names[rng.IntN(len(cfg.Names))]}
		values[i] = v.InexactFloat64()
	}
	return base, values, cfg
}

// A customer placed on the scale of a base gets the tier AssignTiers gives
// it among the base and itself: ties, zeros and hysteresis included.
func TestTierScale_AssignMatchesAssignTiers(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 300 {
		base, values, cfg := randomTierBase(rng, trial)
		c := TierInput{ID: "new", Value: base[rng.IntN(len(base))].Value, Previous: cfg.Names[rng.IntN(len(cfg.Names))]}
		if trial%4 == 0 {
			c.Value = decimal.NewFromInt(int64(rng.IntN(12)-2) * 100) // not necessarily a base value
		}
		if trial%5 == 0 {
			c.Previous = ""
		}
		all, err := AssignTiers(append(slices.Clone(base), c), cfg)
		if err != nil {
			t.Fatal(err)
		}
		var want TierAssignment
		for _, a := range all {
			if a.ID == "new" {
				want = a
			}
		}
		got, err := NewTierScaleOf(values).Assign(c, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("trial %d: value %s previous %q among %d: got %+v, want %+v", trial, c.Value, c.Previous, len(base), got, want)
		}
	}
}

// Every customer of a base placed as a member of its scale gets the tier
// AssignTiers gave it.
func TestTierScale_AssignMemberMatchesAssignTiers(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 300 {
		base, values, cfg := randomTierBase(rng, trial)
		want, err := AssignTiers(base, cfg)
		if err != nil {
			t.Fatal(err)
		}
		scale := NewTierScaleOf(values)
		byID := map[string]TierInput{}
		for _, c := range base {
			byID[c.ID] = c
		}
		for _, w := range want {
			got, err := scale.AssignMember(byID[w.ID], cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got != w {
				t.Fatalf("trial %d: %+v: got %+v, want %+v", trial, byID[w.ID], got, w)
			}
		}
	}
}

// A new customer beyond the base's range takes the end scores.
func TestRFMScale_Outside(t *testing.T) {
	asOf := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	var in []RFMInput
	for i := range 10 {
		in = append(in, RFMInput{ID: fmt.Sprint(i), Orders: i + 1, Last: asOf.AddDate(0, 0, -10*i), Revenue: decimal.NewFromInt(int64(100 * (i + 1)))})
	}
	var keys []RFMKey
	for _, c := range in {
		k, _ := RFMKeyOf(c, DefaultRFMConfig())
		keys = append(keys, k)
	}
	scale := NewRFMScaleOf(keys)
	hi, _ := scale.Score(RFMInput{ID: "hi", Orders: 50, Last: asOf, Revenue: decimal.NewFromInt(99999)}, DefaultRFMConfig())
	lo, _ := scale.Score(RFMInput{ID: "lo", Orders: 1, Last: asOf.AddDate(-3, 0, 0), Revenue: decimal.NewFromInt(1)}, DefaultRFMConfig())
	none, _ := scale.Score(RFMInput{ID: "none"}, DefaultRFMConfig())
	if hi.R != 5 || hi.F != 5 || hi.M != 5 || lo.R != 1 || lo.F != 1 || lo.M != 1 || none.R != 1 || none.F != 1 || none.M != 1 {
		t.Errorf("hi %+v, lo %+v, none %+v", hi, lo, none)
	}
}

// A scale made from the buyers' keys alone scores every customer as
// ScoreRFM does.
func TestRFMScaleOf_ReproducesScoreRFM(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	asOf := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for trial := range 200 {
		cfg := DefaultRFMConfig()
		if trial%2 == 1 {
			cfg.Monetary = RFMMonetaryAverage
		}
		n := 1 + rng.IntN(80)
		in := make([]RFMInput, n)
		var keys []RFMKey
		for i := range in {
			orders := rng.IntN(6)
			if trial%3 == 0 {
				orders = rng.IntN(3) // few distinct values
			}
			in[i] = RFMInput{ID: fmt.Sprintf("c%03d", i), Orders: orders, Last: asOf.AddDate(0, 0, -rng.IntN(400)),
				Revenue: decimal.NewFromInt(int64(orders * (10 + rng.IntN(500)))).Div(decimal.NewFromInt(3)).Round(2)}
			if k, ok := RFMKeyOf(in[i], cfg); ok {
				keys = append(keys, k)
			}
		}
		want, err := ScoreRFM(in, cfg)
		if err != nil {
			t.Fatal(err)
		}
		scale := NewRFMScaleOf(keys)
		for i, c := range in {
			got, err := scale.Score(c, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got != want[i] {
				t.Fatalf("trial %d, customer %+v: got %+v, want %+v", trial, c, got, want[i])
			}
		}
	}
}

// countingValues serves a scale's values one at a time, as a caller that
// keeps them encoded does, counting the reads.
type countingValues struct {
	v     []float64
	reads int
}

func (c *countingValues) Len() int { return len(c.v) }
func (c *countingValues) At(i int) float64 {
	c.reads++
	return c.v[i]
}

// Placing on values read one at a time gives what the scale's own slice
// gives, reading a logarithmic number of them.
func TestTierPlacerOn_MatchesTheScale(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for trial := range 300 {
		base, values, cfg := randomTierBase(rng, trial)
		scale := NewTierScaleOf(values)
		for _, member := range []bool{false, true} {
			want, err := scale.Placer(cfg, member)
			if err != nil {
				t.Fatal(err)
			}
			src := &countingValues{v: scale.Values}
			got, err := TierPlacerOn(src, cfg, member)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range base {
				src.reads = 0
				if g, w := got(c), want(c); g != w {
					t.Fatalf("trial %d member %v: %+v: got %+v, want %+v", trial, member, c, g, w)
				}
				if limit := 2 * (bits.Len(uint(len(values))) + 1); src.reads > limit {
					t.Fatalf("trial %d: %d reads of %d values, want at most %d", trial, src.reads, len(values), limit)
				}
			}
		}
	}
}
