package config_test

import (
	"errors"
	"testing"

	"github.com/clvsync/clvsync/sync/config"
)

// TestConfig_Validate_MoneyStrict: every money key is read by ParseMoney,
// which takes plain decimals only, and the problem names the key.
func TestConfig_Validate_MoneyStrict(t *testing.T) {
	set := map[string]func(*config.Config, string){
		"model.cost_per_order":            func(c *config.Config, v string) { c.Model.CostPerOrder = v },
		"write_back.rounding_step":        func(c *config.Config, v string) { c.WriteBack.RoundingStep = v },
		"segments.quadrant.clv_threshold": func(c *config.Config, v string) { c.Segments.Quadrant.CLVThreshold = v },
	}
	for key, f := range set {
		for _, v := range []string{"NaN", "Inf", "-Inf", "0x1p-2", "1_000"} {
			t.Run(key+"="+v, func(t *testing.T) {
				cfg := config.DefaultConfig()
				f(&cfg, v)
				var ps config.Problems
				if err := cfg.Validate(); !errors.As(err, &ps) {
					t.Fatalf("Validate accepted %s: %q", key, v)
				}
				for _, p := range ps {
					if p.Key == key {
						return
					}
				}
				t.Fatalf("no problem names %s: %v", key, ps)
			})
		}
	}
}

func TestParseMoney(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"12.50", "12.5", true}, {" 1 ", "1", true}, {"0", "0", true}, {"-3", "-3", true},
		{"NaN", "", false}, {"Inf", "", false}, {"0x1p-2", "", false}, {"1_000", "", false}, {"", "", false}, {"1,5", "", false},
	} {
		got, err := config.ParseMoney(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got.String() != tt.want) {
			t.Errorf("ParseMoney(%q) = %s, %v; want %s, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
