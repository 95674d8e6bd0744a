package clv_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/clvsync/clvsync/clv"
	"github.com/shopspring/decimal"
)

func TestRFMConfig_Segment(t *testing.T) {
	cfg := clv.DefaultRFMConfig()
	for _, tt := range []struct {
		r, f, m int
		want    string
	}{
		{5, 5, 5, "Champions"}, {4, 5, 4, "Champions"}, {4, 4, 3, "Loyal"}, {3, 5, 5, "Loyal"},
		{5, 1, 1, "New"}, {4, 1, 2, "Promising"}, {5, 3, 2, "Potential Loyalist"}, {4, 2, 2, "Potential Loyalist"},
		{3, 3, 3, "Need Attention"}, {3, 2, 1, "About To Sleep"}, {2, 5, 5, "Can't Lose Them"}, {1, 5, 4, "Can't Lose Them"},
		{1, 3, 4, "At Risk"}, {2, 3, 3, "At Risk"}, {2, 1, 1, "Hibernating"}, {2, 3, 2, "Hibernating"}, {1, 1, 1, "Lost"},
	} {
		t.Run(strings.Join([]string{string(rune('0' + tt.r)), string(rune('0' + tt.f)), string(rune('0' + tt.m))}, ""), func(t *testing.T) {
			got, err := cfg.Segment(tt.r, tt.f, tt.m)
			if err != nil || got != tt.want {
				t.Errorf("Segment(%d,%d,%d) = %q, %v; want %q", tt.r, tt.f, tt.m, got, err, tt.want)
			}
		})
	}
	t.Run("all eleven names used", func(t *testing.T) {
		seen := map[string]bool{}
		for r := 1; r <= 5; r++ {
			for f := 1; f <= 5; f++ {
				for m := 1; m <= 5; m++ {
					s, err := cfg.Segment(r, f, m)
					if err != nil || s == "" {
						t.Fatalf("Segment(%d,%d,%d) = %q, %v", r, f, m, s, err)
					}
					seen[s] = true
				}
			}
		}
		if len(seen) != 11 {
			t.Errorf("%d segments used, want 11: %v", len(seen), seen)
		}
	})
	if _, err := cfg.Segment(0, 3, 3); err == nil {
		t.Error("Segment(0,3,3) accepted")
	}
}

func TestRFMConfig_Validate(t *testing.T) {
	for _, tt := range []struct {
		name  string
		cfg   clv.RFMConfig
		field string
	}{
		{"default", clv.DefaultRFMConfig(), ""},
		{"replacement grid on R and F", clv.RFMConfig{Monetary: clv.RFMMonetaryAverage, Rules: []clv.RFMRule{
			{Segment: "Best", R: "4-5", F: "4-5"}, {Segment: "Rest"}}}, ""},
		{"monetary", clv.RFMConfig{Monetary: "median", Rules: clv.DefaultRFMRules()}, "rfm.monetary"},
		{"no rules", clv.RFMConfig{Monetary: clv.RFMMonetaryTotal}, "rfm.rules"},
		{"gap", clv.RFMConfig{Monetary: clv.RFMMonetaryTotal, Rules: clv.DefaultRFMRules()[:10]}, "rfm.rules: no segment for R=1"},
		{"bad range", clv.RFMConfig{Monetary: clv.RFMMonetaryTotal, Rules: []clv.RFMRule{{Segment: "X", R: "6-7"}}}, "rfm.rules[0].r"},
		{"garbage range", clv.RFMConfig{Monetary: clv.RFMMonetaryTotal, Rules: []clv.RFMRule{{Segment: "X", FM: "high"}}}, "rfm.rules[0].fm"},
		{"empty segment", clv.RFMConfig{Monetary: clv.RFMMonetaryTotal, Rules: []clv.RFMRule{{R: "1-5"}}}, "rfm.rules[0].segment"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (tt.field == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.field)) {
				t.Errorf("Validate() = %v, want error naming %q", err, tt.field)
			}
		})
	}
}

func TestScoreRFM(t *testing.T) {
	day := func(n int) time.Time { return clvT0.AddDate(0, 0, n) }
	type score struct{ r, f, m int }
	for _, tt := range []struct {
		name     string
		in       []clv.RFMInput
		monetary string
		want     []score
	}{
		{"empty", nil, clv.RFMMonetaryTotal, nil},
		{"single customer is centred", []clv.RFMInput{{ID: "a", Last: day(1), Orders: 2, Revenue: clvDec(t, "10")}},
			clv.RFMMonetaryTotal, []score{{3, 3, 3}}},
		{"five distinct span 1..5", []clv.RFMInput{
			{ID: "a", Last: day(50), Orders: 1, Revenue: clvDec(t, "10")},
			{ID: "b", Last: day(40), Orders: 2, Revenue: clvDec(t, "20")},
			{ID: "c", Last: day(30), Orders: 3, Revenue: clvDec(t, "30")},
			{ID: "d", Last: day(20), Orders: 4, Revenue: clvDec(t, "40")},
			{ID: "e", Last: day(10), Orders: 5, Revenue: clvDec(t, "50")},
		}, clv.RFMMonetaryTotal, []score{{5, 1, 1}, {4, 2, 2}, {3, 3, 3}, {2, 4, 4}, {1, 5, 5}}},
		{"average monetary", []clv.RFMInput{
			{ID: "a", Last: day(50), Orders: 1, Revenue: clvDec(t, "10")},
			{ID: "b", Last: day(40), Orders: 2, Revenue: clvDec(t, "20")},
			{ID: "c", Last: day(30), Orders: 10, Revenue: clvDec(t, "10")},
			{ID: "d", Last: day(20), Orders: 4, Revenue: clvDec(t, "400")},
			{ID: "e", Last: day(10), Orders: 5, Revenue: clvDec(t, "500")},
		}, clv.RFMMonetaryAverage, []score{{5, 1, 3}, {4, 2, 3}, {3, 5, 1}, {2, 3, 5}, {1, 4, 5}}},
		{"ties share a score; no-order customer is 1,1,1", []clv.RFMInput{
			{ID: "a", Last: day(10), Orders: 2, Revenue: clvDec(t, "10")},
			{ID: "b", Last: day(10), Orders: 2, Revenue: clvDec(t, "10")},
			{ID: "c", Last: day(10), Orders: 2, Revenue: clvDec(t, "10")},
			{ID: "z"},
		}, clv.RFMMonetaryTotal, []score{{3, 3, 3}, {3, 3, 3}, {3, 3, 3}, {1, 1, 1}}},
		{"ten customers, pairs per quintile", func() []clv.RFMInput {
			var in []clv.RFMInput
			for i := 0; i < 10; i++ {
				in = append(in, clv.RFMInput{ID: string(rune('a' + i)), Last: day(i), Orders: i + 1, Revenue: clvDec(t, "1").Mul(clvDec(t, "100"))})
			}
			return in
		}(), clv.RFMMonetaryTotal, []score{{1, 1, 3}, {1, 1, 3}, {2, 2, 3}, {2, 2, 3}, {3, 3, 3}, {3, 3, 3}, {4, 4, 3}, {4, 4, 3}, {5, 5, 3}, {5, 5, 3}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := clv.DefaultRFMConfig()
			cfg.Monetary = tt.monetary
			got, err := clv.ScoreRFM(tt.in, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d scores, want %d", len(got), len(tt.want))
			}
			for i, w := range tt.want {
				g := got[i]
				if g.ID != tt.in[i].ID || g.R != w.r || g.F != w.f || g.M != w.m {
					t.Errorf("%s: (%d,%d,%d), want (%d,%d,%d)", g.ID, g.R, g.F, g.M, w.r, w.f, w.m)
				}
				if want, _ := cfg.Segment(g.R, g.F, g.M); g.Segment != want || g.Segment == "" {
					t.Errorf("%s: segment %q, want %q", g.ID, g.Segment, want)
				}
			}
		})
	}
	t.Run("bad config", func(t *testing.T) {
		if _, err := clv.ScoreRFM(nil, clv.RFMConfig{}); err == nil || !strings.Contains(err.Error(), "rfm.monetary") {
			t.Errorf("err = %v, want rfm.monetary", err)
		}
	})
}

// TestScoreRFM_CDNOWFrequencyUsesAllScores: on CDNOW most customers have one
// or two orders; midrank quintiles left F = 1 and 3 unused ({2, 4, 5} only).
func TestScoreRFM_CDNOWFrequencyUsesAllScores(t *testing.T) {
	byID, ids := loadCDNOWOrdersExt(t)
	asOf := time.Date(1998, 6, 30, 0, 0, 0, 0, time.UTC)
	in := make([]clv.RFMInput, 0, len(ids))
	for _, id := range ids {
		h := clv.Historical(byID[id], decimal.NewFromInt(1), decimal.Zero, asOf)
		in = append(in, clv.RFMInput{ID: id, Last: h.Last, Orders: h.Orders, Revenue: h.Revenue})
	}
	got, err := clv.ScoreRFM(in, clv.DefaultRFMConfig())
	if err != nil {
		t.Fatal(err)
	}
	var f, r, m [6]int
	ordersByF := map[int]map[int]bool{}
	for i, s := range got {
		f[s.F]++
		r[s.R]++
		m[s.M]++
		if ordersByF[s.F] == nil {
			ordersByF[s.F] = map[int]bool{}
		}
		ordersByF[s.F][in[i].Orders] = true
	}
	for k := 1; k <= 5; k++ {
		if f[k] == 0 || r[k] == 0 || m[k] == 0 {
			t.Errorf("score %d unused: F %v R %v M %v", k, f[1:], r[1:], m[1:])
		}
	}
	// Ties share a score: one-order buyers are all F = 1.
	for k, os := range ordersByF {
		if os[1] && (k != 1 || len(os) != 1) {
			t.Errorf("F=%d holds order counts %v; one-order buyers must be alone in F=1", k, os)
		}
	}
	t.Logf("F counts %v, R counts %v, M counts %v; order counts per F %v", f[1:], r[1:], m[1:], ordersByF)
}

// loadCDNOWOrdersExt reads testdata/CDNOW_sample.txt into orders per id.
func loadCDNOWOrdersExt(tb testing.TB) (map[string][]clv.Order, []string) {
	tb.Helper()
	raw, err := os.ReadFile("testdata/CDNOW_sample.txt")
	if err != nil {
		tb.Fatal(err)
	}
	byID := map[string][]clv.Order{}
	var ids []string
	for _, line := range strings.Split(string(raw), "\n") {
		fs := strings.Fields(line)
		if len(fs) != 5 {
			continue
		}
		at, err := time.Parse("20060102", fs[2])
		if err != nil {
			tb.Fatal(err)
		}
		if _, ok := byID[fs[1]]; !ok {
			ids = append(ids, fs[1])
		}
		byID[fs[1]] = append(byID[fs[1]], clv.Order{At: at, Amount: decimal.RequireFromString(fs[4])})
	}
	return byID, ids
}
