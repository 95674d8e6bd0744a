package clv_test

import (
	"strings"
	"testing"
	"time"

	"github.com/clvsync/clvsync/clv"
)

func TestTrend(t *testing.T) {
	now := clvT0.AddDate(1, 0, 0)
	daysAgo := func(n int) time.Time { return now.AddDate(0, 0, -n) }
	pt := func(n int, v string) clv.TrendPoint { return clv.TrendPoint{At: daysAgo(n), Value: clvDec(t, v)} }
	for _, tt := range []struct {
		name       string
		history    []clv.TrendPoint
		current    string
		want       clv.TrendDirection
		wantPct    string // "" = no percentage
		wantBaseAt time.Time
	}{
		{"no history is new", nil, "100", clv.TrendNew, "", time.Time{}},
		{"only later points is new", []clv.TrendPoint{pt(-5, "50")}, "100", clv.TrendNew, "", time.Time{}},
		{"latest at or before the window start", []clv.TrendPoint{pt(60, "110"), pt(200, "50"), pt(120, "100")}, "120",
			clv.TrendRising, "20", daysAgo(120)},
		{"point exactly at the window start", []clv.TrendPoint{pt(90, "100"), pt(120, "10")}, "90", clv.TrendFalling, "-10", daysAgo(90)},
		{"shorter history uses the earliest", []clv.TrendPoint{pt(10, "99"), pt(30, "100")}, "103", clv.TrendStable, "3", daysAgo(30)},
		{"band edge is stable", []clv.TrendPoint{pt(100, "100")}, "95", clv.TrendStable, "-5", daysAgo(100)},
		{"falling to zero is -100%", []clv.TrendPoint{pt(100, "80")}, "0", clv.TrendFalling, "-100", daysAgo(100)},
		{"zero to zero is stable", []clv.TrendPoint{pt(100, "0")}, "0", clv.TrendStable, "0", daysAgo(100)},
		{"rise from zero has no percentage", []clv.TrendPoint{pt(100, "0")}, "10", clv.TrendRising, "", daysAgo(100)},
		{"negative history is unknown", []clv.TrendPoint{pt(100, "-1")}, "10", clv.TrendUnknown, "", daysAgo(100)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := clv.Trend(tt.history, clv.TrendPoint{At: now, Value: clvDec(t, tt.current)}, clv.DefaultTrendConfig())
			if err != nil {
				t.Fatal(err)
			}
			if got.Direction != tt.want {
				t.Errorf("direction = %s, want %s", got.Direction, tt.want)
			}
			if got.HasChange != (tt.wantPct != "") || (tt.wantPct != "" && !got.ChangePct.Equal(clvDec(t, tt.wantPct))) {
				t.Errorf("change = %s (has %v), want %q", got.ChangePct, got.HasChange, tt.wantPct)
			}
			if !got.Baseline.At.Equal(tt.wantBaseAt) {
				t.Errorf("baseline at %s, want %s", got.Baseline.At, tt.wantBaseAt)
			}
		})
	}
}

func TestTrendConfig_Validate(t *testing.T) {
	for _, tt := range []struct {
		name  string
		cfg   clv.TrendConfig
		field string
	}{
		{"default", clv.DefaultTrendConfig(), ""},
		{"window", clv.TrendConfig{StableBand: 0.05}, "trend.window"},
		{"band", clv.TrendConfig{Window: time.Hour, StableBand: -0.1}, "trend.stable_band"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (tt.field == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.field)) {
				t.Errorf("Validate() = %v, want error naming %q", err, tt.field)
			}
			if _, terr := clv.Trend(nil, clv.TrendPoint{}, tt.cfg); (terr == nil) != (err == nil) {
				t.Errorf("Trend error %v disagrees with Validate %v", terr, err)
			}
		})
	}
}
