package sync

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/state"
	"github.com/clvsync/clvsync/sync/config"
)

func TestParseAmount(t *testing.T) {
	for _, tt := range []struct {
		raw, want string
		cleaned   bool
		bad       bool
	}{
		{"1234.50", "1234.5", false, false},
		{"-80", "-80", false, false},
		{"$1,234.50", "1234.5", true, false},
		{"1.234,50 €", "1234.5", true, false},
		{"1,234", "1234", true, false},
		{"12,5", "12.5", true, false},
		{"£ 2 000", "2000", true, false},
		{"(45.10)", "-45.1", true, false},
		{"1.234.567", "1234567", true, false},
		{"n/a", "", true, true},
		{"1,23,4", "", true, true},
	} {
		t.Run(tt.raw, func(t *testing.T) {
			got, cleaned, err := parseAmount(tt.raw)
			if tt.bad {
				if err == nil {
					t.Fatalf("parseAmount(%q) = %s, want an error", tt.raw, got)
				}
				return
			}
			if err != nil || !got.Equal(decimal.RequireFromString(tt.want)) || cleaned != tt.cleaned {
				t.Errorf("parseAmount(%q) = %s, %v, %v; want %s, %v", tt.raw, got, cleaned, err, tt.want, tt.cleaned)
			}
		})
	}
}

func TestDealRules_NormalizeDeal(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	rules := DealRules{amountProp: "amount_in_home_currency", currencyProp: "deal_currency_code", closeProp: "closedate",
		won: func(p, s string, cw bool) bool { return s == "closedwon" }, currencies: map[string]bool{"USD": true, "EUR": true}}
	deal := func(props map[string]string) state.Deal {
		props["dealstage"] = "closedwon"
		return rules.normalizeDeal(hubspot.Object{ID: "9", Properties: props}, now)
	}
	for _, tt := range []struct {
		name    string
		props   map[string]string
		order   bool
		warning string
	}{
		{"good", map[string]string{"amount_in_home_currency": "100", "closedate": "2026-03-01T10:00:00Z", "deal_currency_code": "USD"}, true, ""},
		{"no amount", map[string]string{"closedate": "2026-03-01T10:00:00Z"}, false, "no amount"},
		{"no close date", map[string]string{"amount_in_home_currency": "100"}, false, "no close date"},
		{"future close date", map[string]string{"amount_in_home_currency": "100", "closedate": "2027-01-01T00:00:00Z"}, false, "close date in the future"},
		{"refund", map[string]string{"amount_in_home_currency": "-40", "closedate": "2026-03-01T10:00:00Z"}, true, "negative amount (refund)"},
		{"unknown currency", map[string]string{"amount_in_home_currency": "100", "closedate": "2026-03-01T10:00:00Z", "deal_currency_code": "JPY"}, false, "currency JPY not accepted"},
		{"thousands separator", map[string]string{"amount_in_home_currency": "1,200.00", "closedate": "2026-03-01"}, true, `amount normalised: "1,200.00" -> 1200`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := deal(tt.props)
			if got := rules.isOrder(d, now); got != tt.order {
				t.Errorf("isOrder = %v, want %v (warnings %v)", got, tt.order, d.Warnings)
			}
			if tt.warning == "" && len(d.Warnings) > 0 {
				t.Errorf("unexpected warnings %v", d.Warnings)
			}
			if tt.warning != "" && (len(d.Warnings) == 0 || d.Warnings[len(d.Warnings)-1] != tt.warning) {
				t.Errorf("warnings %v, want %q", d.Warnings, tt.warning)
			}
		})
	}
}

func TestRunner_Diff(t *testing.T) {
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	r := &Runner{Config: config.DefaultConfig()}
	out := func(total string, tier string) contactOutput {
		return contactOutput{ContactID: "1",
			Values: map[config.OutputKey]string{config.OutTotal: total, config.OutTier: tier, config.OutExplain: "x", config.OutUpdatedAt: "t"},
			Money:  map[config.OutputKey]decimal.Decimal{config.OutTotal: decimal.RequireFromString(total)}}
	}
	prev := state.Written{ContactID: "1", Values: map[string]string{"total": "1000", "tier": "top", "explain": "old"}}
	t.Run("unchanged writes nothing", func(t *testing.T) {
		if _, ok := r.diff(out("1000", "top"), prev, true, now, nil); ok {
			t.Error("identical values produced a write")
		}
	})
	t.Run("change under the threshold is damped", func(t *testing.T) {
		if u, ok := r.diff(out("1015", "top"), prev, true, now, nil); ok {
			t.Errorf("1.5%% change written: %v", u.Props)
		}
	})
	t.Run("change over the threshold is written with companions", func(t *testing.T) {
		u, ok := r.diff(out("1100", "top"), prev, true, now, nil)
		if !ok || u.Props["clv_total"] != "1100" || u.Props["clv_explain"] != "x" || u.Props["clv_updated_at"] != "t" {
			t.Errorf("10%% change: ok=%v props=%v", ok, u.Props)
		}
		if _, moved := u.Props["clv_previous_tier"]; moved {
			t.Error("previous tier written without a tier change")
		}
	})
	t.Run("segment change carries small money moves and the previous tier", func(t *testing.T) {
		u, ok := r.diff(out("1015", "middle"), prev, true, now, nil)
		if !ok || u.Props["clv_tier"] != "middle" || u.Props["clv_previous_tier"] != "top" ||
			u.Props["clv_tier_changed_at"] != "2026-11-01" || u.Props["clv_total"] != "1015" {
			t.Errorf("tier change: ok=%v props=%v", ok, u.Props)
		}
		if !u.Since["tier"].Equal(now) {
			t.Errorf("tier entered at %v, want %v", u.Since["tier"], now)
		}
	})
	t.Run("the parts of the total are written with it", func(t *testing.T) {
		// Historical +3% and the total +2% are over the threshold, the
		// predicted +1% is not: written alone, HubSpot's total would not
		// be historical + predicted.
		o := contactOutput{ContactID: "1", Values: map[config.OutputKey]string{config.OutHistorical: "1030", config.OutPredicted: "1010", config.OutTotal: "2040", config.OutTier: "top"},
			Money: map[config.OutputKey]decimal.Decimal{config.OutHistorical: decimal.NewFromInt(1030), config.OutPredicted: decimal.NewFromInt(1010), config.OutTotal: decimal.NewFromInt(2040)}}
		p := state.Written{ContactID: "1", Values: map[string]string{"historical": "1000", "predicted": "1000", "total": "2000", "tier": "top"}}
		u, ok := r.diff(o, p, true, now, nil)
		if !ok || u.Values[config.OutPredicted] != "1010" || u.Values[config.OutHistorical] != "1030" || u.Values[config.OutTotal] != "2040" {
			t.Errorf("ok=%v values=%v, want historical, predicted and total together", ok, u.Values)
		}
	})
	t.Run("output switched off is never written", func(t *testing.T) {
		r2 := &Runner{Config: config.DefaultConfig()}
		r2.Config.Outputs.Properties[config.OutTotal] = config.Off
		if u, ok := r2.diff(out("5000", "top"), prev, true, now, nil); ok {
			t.Errorf("off output written: %v", u.Props)
		}
	})
}

func TestRoundStep(t *testing.T) {
	for _, tt := range []struct{ v, step, want string }{
		{"1234.5", "1", "1235"}, {"1234.49", "1", "1234"}, {"1234.567", "0.01", "1234.57"}, {"1234", "10", "1230"}, {"1235", "10", "1240"},
	} {
		if got := roundStep(decimal.RequireFromString(tt.v), decimal.RequireFromString(tt.step)); got != tt.want {
			t.Errorf("roundStep(%s, %s) = %s, want %s", tt.v, tt.step, got, tt.want)
		}
	}
}
