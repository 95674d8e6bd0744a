package clv_test

import (
	"strings"
	"testing"

	"github.com/clvsync/clvsync/clv"
	"github.com/shopspring/decimal"
)

func TestQuadrant(t *testing.T) {
	in := []clv.QuadrantInput{
		{ID: "a", CLV: clvDec(t, "100"), Months: 1},
		{ID: "b", CLV: clvDec(t, "200"), Months: 24},
		{ID: "c", CLV: clvDec(t, "300"), Months: 2},
		{ID: "d", CLV: clvDec(t, "400"), Months: 36},
	}
	t.Run("median thresholds", func(t *testing.T) {
		got, clvT, monthsT, err := clv.Quadrant(in, clv.DefaultQuadrantConfig())
		if err != nil {
			t.Fatal(err)
		}
		if !clvT.Equal(clvDec(t, "250")) || monthsT != 13 {
			t.Errorf("thresholds = %s, %v; want 250, 13", clvT, monthsT)
		}
		want := []string{"Newcomers", "Steady", "Rising Stars", "Stars"}
		for i, w := range want {
			if got[i].ID != in[i].ID || got[i].Name != w {
				t.Errorf("%s: %q, want %q", got[i].ID, got[i].Name, w)
			}
		}
	})
	t.Run("configured thresholds and names", func(t *testing.T) {
		cfg := clv.DefaultQuadrantConfig()
		th, months := decimal.NewFromInt(100), 2.0
		cfg.CLVThreshold, cfg.MonthsThreshold = &th, &months
		cfg.Names.HighLong = "VIP"
		got, _, _, err := clv.Quadrant(in, cfg)
		if err != nil {
			t.Fatal(err)
		}
		// a: 100 >= 100 is high, 1 < 2 is short; c: 2 >= 2 is long.
		want := []string{"Rising Stars", "VIP", "VIP", "VIP"}
		for i, w := range want {
			if got[i].Name != w {
				t.Errorf("%s: %q, want %q", got[i].ID, got[i].Name, w)
			}
		}
	})
	t.Run("odd count and single customer", func(t *testing.T) {
		got, clvT, monthsT, err := clv.Quadrant(in[:3], clv.DefaultQuadrantConfig())
		if err != nil || !clvT.Equal(clvDec(t, "200")) || monthsT != 2 {
			t.Fatalf("thresholds = %s, %v, err %v; want 200, 2", clvT, monthsT, err)
		}
		if got[1].Name != "Stars" {
			t.Errorf("median customer = %q, want Stars (thresholds are inclusive)", got[1].Name)
		}
		got, _, _, err = clv.Quadrant(in[:1], clv.DefaultQuadrantConfig())
		if err != nil || got[0].Name != "Stars" {
			t.Errorf("single = %v, %v; want Stars", got, err)
		}
	})
	t.Run("empty", func(t *testing.T) {
		got, _, _, err := clv.Quadrant(nil, clv.DefaultQuadrantConfig())
		if err != nil || len(got) != 0 {
			t.Errorf("got %v, %v", got, err)
		}
	})
}

func TestQuadrantConfig_Validate(t *testing.T) {
	neg, negM := decimal.NewFromInt(-1), -1.0
	for _, tt := range []struct {
		name  string
		edit  func(*clv.QuadrantConfig)
		field string
	}{
		{"default", func(*clv.QuadrantConfig) {}, ""},
		{"negative clv", func(c *clv.QuadrantConfig) { c.CLVThreshold = &neg }, "quadrant.clv_threshold"},
		{"negative months", func(c *clv.QuadrantConfig) { c.MonthsThreshold = &negM }, "quadrant.months_threshold"},
		{"empty name", func(c *clv.QuadrantConfig) { c.Names.LowShort = " " }, "quadrant.names.low_short"},
		{"duplicate name", func(c *clv.QuadrantConfig) { c.Names.LowLong = "Stars" }, "quadrant.names.low_long"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := clv.DefaultQuadrantConfig()
			tt.edit(&c)
			err := c.Validate()
			if (tt.field == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.field)) {
				t.Errorf("Validate() = %v, want error naming %q", err, tt.field)
			}
		})
	}
}

func TestRelationshipMonths(t *testing.T) {
	if got := clv.RelationshipMonths(clvT0, clvMonths(clvT0, 18)); got != 18 {
		t.Errorf("RelationshipMonths = %v, want 18", got)
	}
	if got := clv.RelationshipMonths(clvMonths(clvT0, 1), clvT0); got != 0 {
		t.Errorf("RelationshipMonths(backwards) = %v, want 0", got)
	}
}
