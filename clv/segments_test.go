package clv_test

import (
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/clvsync/clvsync/clv"
)

// clvTierInputs builds customers c0, c1, … with the given values.
func clvTierInputs(tb testing.TB, values ...string) []clv.TierInput {
	tb.Helper()
	in := make([]clv.TierInput, len(values))
	for i, v := range values {
		in[i] = clv.TierInput{ID: "c" + strconv.Itoa(i), Value: clvDec(tb, v)}
	}
	return in
}

func TestAssignTiers(t *testing.T) {
	cfg := clv.DefaultTierConfig()
	tiersByID := func(a []clv.TierAssignment) map[string]string {
		m := map[string]string{}
		for _, x := range a {
			m[x.ID] = x.Tier
		}
		return m
	}
	for _, tt := range []struct {
		name   string
		values []string
		want   map[string]string
	}{
		{"empty", nil, map[string]string{}},
		{"single customer is top", []string{"5"}, map[string]string{"c0": "top"}},
		{"ten distinct: 2/6/2", []string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10"}, map[string]string{
			"c9": "top", "c8": "top", "c7": "middle", "c6": "middle", "c5": "middle", "c4": "middle", "c3": "middle", "c2": "middle",
			"c1": "bottom", "c0": "bottom"}},
		{"tie straddling the top cut stays together", []string{"10", "10", "5", "5", "1"}, map[string]string{
			"c0": "top", "c1": "top", "c2": "middle", "c3": "middle", "c4": "bottom"}},
		{"all tied share the middle", []string{"3", "3", "3"}, map[string]string{"c0": "middle", "c1": "middle", "c2": "middle"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := clv.AssignTiers(clvTierInputs(t, tt.values...), cfg)
			if err != nil {
				t.Fatal(err)
			}
			g := tiersByID(got)
			if len(g) != len(tt.want) {
				t.Fatalf("got %v, want %v", g, tt.want)
			}
			for id, w := range tt.want {
				if g[id] != w {
					t.Errorf("%s: tier %q, want %q", id, g[id], w)
				}
			}
		})
	}
	t.Run("stable order: value desc then ID", func(t *testing.T) {
		in := []clv.TierInput{{ID: "b", Value: clvDec(t, "1")}, {ID: "a", Value: clvDec(t, "1")}, {ID: "c", Value: clvDec(t, "2")}}
		got, err := clv.AssignTiers(in, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got[0].ID != "c" || got[1].ID != "a" || got[2].ID != "b" {
			t.Errorf("order = %s %s %s, want c a b", got[0].ID, got[1].ID, got[2].ID)
		}
	})
}

func TestAssignTiers_hysteresis(t *testing.T) {
	values := []string{"10", "9", "8", "7", "6", "5", "4", "3", "2", "1"} // c_i has percentile i/10
	for _, tt := range []struct {
		name     string
		id, prev string
		margin   float64
		want     string
		kept     bool
	}{
		{"no margin moves", "c2", "top", 0, "middle", false},
		{"inside margin keeps top", "c2", "top", 0.05, "top", true},
		{"past margin leaves top", "c3", "top", 0.05, "middle", false},
		{"moving up inside margin keeps middle", "c1", "middle", 0.15, "middle", true},
		{"moving up past margin", "c1", "middle", 0.05, "top", false},
		{"bottom kept near its bound", "c7", "bottom", 0.15, "bottom", true},
		{"bottom leaves past the margin", "c7", "bottom", 0.05, "middle", false},
		{"unknown previous tier ignored", "c2", "gold", 0.5, "middle", false},
		{"same tier", "c5", "middle", 0.05, "middle", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := clvTierInputs(t, values...)
			for i := range in {
				if in[i].ID == tt.id {
					in[i].Previous = tt.prev
				}
			}
			cfg := clv.DefaultTierConfig()
			cfg.Margin = tt.margin
			got, err := clv.AssignTiers(in, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range got {
				if a.ID == tt.id && (a.Tier != tt.want || a.Kept != tt.kept) {
					t.Errorf("tier %q kept=%v, want %q kept=%v (percentile %v)", a.Tier, a.Kept, tt.want, tt.kept, a.Percentile)
				}
			}
		})
	}
}

func TestTierConfig_Validate(t *testing.T) {
	for _, tt := range []struct {
		name  string
		edit  func(*clv.TierConfig)
		field string
	}{
		{"default", func(*clv.TierConfig) {}, ""},
		{"custom", func(c *clv.TierConfig) {
			c.Names, c.Cuts, c.Basis = []string{"gold", "silver", "bronze", "rest"}, []float64{0.1, 0.2, 0.3, 0.4}, clv.TierBasisTotal
		}, ""},
		{"cuts sum", func(c *clv.TierConfig) { c.Cuts = []float64{0.2, 0.6, 0.1} }, "tiers.cuts"},
		{"cuts count", func(c *clv.TierConfig) { c.Cuts = []float64{0.5, 0.5} }, "tiers.cuts"},
		{"negative cut", func(c *clv.TierConfig) { c.Cuts = []float64{-0.2, 0.6, 0.6} }, "tiers.cuts[0]"},
		{"NaN cut", func(c *clv.TierConfig) { c.Cuts = []float64{math.NaN(), 0.6, 0.4} }, "tiers.cuts[0]"},
		{"no names", func(c *clv.TierConfig) { c.Names, c.Cuts = nil, nil }, "tiers.names"},
		{"empty name", func(c *clv.TierConfig) { c.Names = []string{"top", "", "bottom"} }, "tiers.names[1]"},
		{"duplicate name", func(c *clv.TierConfig) { c.Names = []string{"top", "top", "bottom"} }, "tiers.names[1]"},
		{"basis", func(c *clv.TierConfig) { c.Basis = "forecast" }, "tiers.basis"},
		{"margin", func(c *clv.TierConfig) { c.Margin = 1 }, "tiers.margin"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := clv.DefaultTierConfig()
			tt.edit(&c)
			err := c.Validate()
			if (tt.field == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.field)) {
				t.Errorf("Validate() = %v, want error naming %q", err, tt.field)
			}
			if _, aerr := clv.AssignTiers(nil, c); (aerr == nil) != (err == nil) {
				t.Errorf("AssignTiers error %v disagrees with Validate %v", aerr, err)
			}
		})
	}
}

func TestChurnRiskConfig_Risk(t *testing.T) {
	c := clv.DefaultChurnRiskConfig()
	for _, tt := range []struct {
		p    float64
		want clv.ChurnRisk
	}{
		{0, clv.RiskHigh}, {0.29, clv.RiskHigh}, {0.3, clv.RiskMedium}, {0.69, clv.RiskMedium}, {0.7, clv.RiskLow}, {1, clv.RiskLow},
		{math.NaN(), clv.RiskUnknown}, {1.5, clv.RiskUnknown}, {-0.1, clv.RiskUnknown},
	} {
		t.Run(strconv.FormatFloat(tt.p, 'g', -1, 64), func(t *testing.T) {
			if got := c.Risk(tt.p); got != tt.want {
				t.Errorf("Risk(%v) = %s, want %s", tt.p, got, tt.want)
			}
		})
	}
}

func TestChurnRiskConfig_Validate(t *testing.T) {
	for _, tt := range []struct {
		name  string
		cfg   clv.ChurnRiskConfig
		field string
	}{
		{"default", clv.DefaultChurnRiskConfig(), ""},
		{"high above 1", clv.ChurnRiskConfig{High: 1.2, Medium: 1}, "churn_risk.high"},
		{"medium below high", clv.ChurnRiskConfig{High: 0.5, Medium: 0.4}, "churn_risk.medium"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (tt.field == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.field)) {
				t.Errorf("Validate() = %v, want error naming %q", err, tt.field)
			}
		})
	}
}
func TestAssignTiers_ties(t *testing.T) {
	cfg := clv.DefaultTierConfig()
	count := func(a []clv.TierAssignment) map[string]int {
		m := map[string]int{}
		for _, x := range a {
			m[x.Tier]++
		}
		return m
	}
	t.Run("all-equal base is not all top", func(t *testing.T) {
		got, err := clv.AssignTiers(clvTierInputs(t, "7", "7", "7", "7", "7"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if c := count(got); c["top"] != 0 || c["middle"] != 5 {
			t.Errorf("tiers %v, want all 5 in the middle tier", c)
		}
	})
	t.Run("zero values never rank above positive ones", func(t *testing.T) {
		// 3 positive customers and 7 at zero: the zero tie spans the middle
		// and bottom cuts; every zero goes to the bottom tier.
		got, err := clv.AssignTiers(clvTierInputs(t, "9", "8", "7", "0", "0", "0", "0", "0", "0", "0"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range got {
			if a.ID >= "c3" && a.Tier != "bottom" {
				t.Errorf("%s (zero) in %q, want bottom", a.ID, a.Tier)
			}
		}
		if c := count(got); c["top"] != 2 || c["middle"] != 1 || c["bottom"] != 7 {
			t.Errorf("tiers %v, want top 2, middle 1, bottom 7", c)
		}
	})
	t.Run("all-zero base gets no tier", func(t *testing.T) {
		got, err := clv.AssignTiers(clvTierInputs(t, "0", "0", "0"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range got {
			if a.Tier != "" {
				t.Errorf("%s: tier %q, want none", a.ID, a.Tier)
			}
		}
	})
}

// loadCDNOWSummaryExt reads the lifetimes CDNOW summary (weeks).
func loadCDNOWSummaryExt(tb testing.TB) []clv.Summary {
	tb.Helper()
	raw, err := os.ReadFile("testdata/cdnow_customers_summary_with_transactions.csv")
	if err != nil {
		tb.Fatal(err)
	}
	var out []clv.Summary
	for i, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if i == 0 {
			continue
		}
		f := strings.Split(line, ",")
		v := make([]float64, 4)
		for k := range v {
			if v[k], err = strconv.ParseFloat(strings.TrimSpace(f[k+1]), 64); err != nil {
				tb.Fatal(err)
			}
		}
		out = append(out, clv.Summary{ID: f[0], X: v[0], Tx: v[1], T: v[2], MeanSpend: v[3]})
	}
	return out
}

// TestChurnRiskFor: BG/NBD gives a one-time buyer P(alive) = 1 however long
// ago they bought (no drop-out before a repeat purchase), so P(alive) alone
// rated a customer with one purchase 1,351 days ago churn risk "low".
func TestChurnRiskFor(t *testing.T) {
	bg := clv.BGNBD{R: 0.242593, Alpha: 4.413532, A: 0.792886, B: 2.425752} // CDNOW, weeks
	base := clv.BuyingRhythm(loadCDNOWSummaryExt(t))
	if !(base > 1 && base < 52) {
		t.Fatalf("CDNOW buying rhythm %v weeks, want a few weeks", base)
	}
	cfg := clv.DefaultChurnRiskConfig()
	gone := clv.Summary{ID: "gone", X: 0, Tx: 0, T: 1351.0 / 7}
	if p := bg.PAlive(gone); p != 1 || cfg.Risk(p) != clv.RiskLow {
		t.Fatalf("premise: BG/NBD P(alive) %v risk %s", p, cfg.Risk(p))
	}
	for _, tt := range []struct {
		name string
		s    clv.Summary
		want clv.ChurnRisk
	}{
		{"one purchase 1,351 days ago", gone, clv.RiskHigh},
		{"one purchase last week", clv.Summary{ID: "new", T: 1}, clv.RiskLow},
		{"one purchase 2.5 rhythms ago", clv.Summary{ID: "late", T: 2.5 * base}, clv.RiskMedium},
		{"regular buyer on time", clv.Summary{ID: "reg", X: 10, Tx: 38, T: 39}, clv.RiskLow},
		{"regular buyer silent for 6 gaps", clv.Summary{ID: "quiet", X: 10, Tx: 20, T: 38}, clv.RiskHigh},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := bg.PAlive(tt.s)
			if got := clv.ChurnRiskFor(cfg, p, tt.s, base); got != tt.want {
				t.Errorf("ChurnRiskFor(P(alive) %.3f, %+v, rhythm %.2f) = %s, want %s", p, tt.s, base, got, tt.want)
			}
		})
	}
	t.Run("P(alive) still counts", func(t *testing.T) {
		if got := clv.ChurnRiskFor(cfg, 0.1, clv.Summary{X: 3, Tx: 10, T: 11}, base); got != clv.RiskHigh {
			t.Errorf("got %s, want high from P(alive) 0.1", got)
		}
	})
	t.Run("no rhythm known: P(alive) only", func(t *testing.T) {
		if got := clv.ChurnRiskFor(cfg, 1, gone, 0); got != clv.RiskLow {
			t.Errorf("got %s, want low", got)
		}
	})
}
