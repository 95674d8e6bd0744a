package config_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/clvsync/clvsync/sync/config"
)

// checkFile parses and validates a config file the way `clvsync validate`
// does offline, returning every problem.
func checkFile(tb testing.TB, path string) config.Problems {
	tb.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := config.ParseConfig(bytes.NewReader(src))
	if err != nil {
		return config.ParseProblems(src, err)
	}
	var ps config.Problems
	if err := cfg.Validate(); err != nil && !errors.As(err, &ps) {
		tb.Fatalf("Validate returned %T, want Problems: %v", err, err)
	}
	return ps
}

// TestConfig_Validate runs one fixture per class of mistake and checks the
// keys reported, and that every problem says what is wrong and how to fix it.
func TestConfig_Validate(t *testing.T) {
	tests := map[string]struct {
		keys    []string // exactly these keys, in any order
		fixHint string   // the fix of the first problem contains this
	}{
		"good":                  {},
		"token_inline":          {keys: []string{"hubspot.token"}, fixHint: "HUBSPOT_TOKEN"},
		"unknown_key":           {keys: []string{"hubspot.rate_limt_share"}, fixHint: "hubspot.rate_limit_share"},
		"api_version":           {keys: []string{"hubspot.api_version"}, fixHint: "2026-09"},
		"tier":                  {keys: []string{"hubspot.tier"}, fixHint: "professional"},
		"rate_limit_share":      {keys: []string{"hubspot.rate_limit_share"}, fixHint: "0.8"},
		"base_url":              {keys: []string{"hubspot.base_url"}, fixHint: "https://api.hubapi.com"},
		"state_path":            {keys: []string{"state.path"}, fixHint: "clvsync.db"},
		"cron":                  {keys: []string{"schedule.cron"}, fixHint: "@every 6h"},
		"timezone":              {keys: []string{"schedule.timezone"}, fixHint: "IANA"},
		"duration":              {keys: []string{"schedule.run_timeout"}},
		"won_stages_scalar":     {keys: []string{"deals.won_stages"}},
		"won_stages_incomplete": {keys: []string{"deals.won_stages[0]"}, fixHint: "clvsync properties --pipelines"},
		"amount_property":       {keys: []string{"deals.amount_property"}, fixHint: "clvsync properties"},
		"currency_code":         {keys: []string{"deals.currencies[1]", "deals.home_currency"}, fixHint: "ISO 4217"},
		"attribution":           {keys: []string{"attribution"}, fixHint: "split"},
		"model_type":            {keys: []string{"model.type"}, fixHint: "bgnbd"},
		"horizon":               {keys: []string{"model.horizon_months"}, fixHint: "12"},
		"discount_rate":         {keys: []string{"model.annual_discount_rate"}, fixHint: "0.10"},
		"margin":                {keys: []string{"model.margin"}, fixHint: "fraction"},
		"cost_per_order":        {keys: []string{"model.cost_per_order"}, fixHint: "12.50"},
		"wrong_type":            {keys: []string{"model.horizon_months"}, fixHint: "digits"},
		"tier_shares_sum":       {keys: []string{"segments.tiers.shares"}, fixHint: "add up to 1"},
		"tier_shares_count":     {keys: []string{"segments.tiers.shares"}, fixHint: "one share per tier"},
		"tier_names_duplicate":  {keys: []string{"segments.tiers.names[1]"}, fixHint: "unique"},
		"rfm_gap":               {keys: []string{"segments.rfm"}, fixHint: "catch-all"},
		"churn_order":           {keys: []string{"segments.churn"}, fixHint: "high_below < medium_below"},
		"trend_window":          {keys: []string{"segments.trend.window_days"}, fixHint: "90"},
		"output_unknown":        {keys: []string{"outputs.properties.lifetime"}, fixHint: "outputs are:"},
		"output_duplicate":      {keys: []string{"outputs.properties.total"}, fixHint: "its own property"},
		"output_bad_name":       {keys: []string{"outputs.properties.tier"}, fixHint: "lowercase"},
		"output_group":          {keys: []string{"outputs.group"}, fixHint: "lowercase"},
		"batch_size":            {keys: []string{"write_back.batch_size"}, fixHint: "100"},
		"max_changes":           {keys: []string{"write_back.max_changes"}, fixHint: "10%"},
		"log_level":             {keys: []string{"operations.log_level"}, fixHint: "debug"},
		"yaml_syntax":           {keys: []string{"line 2"}, fixHint: "indent"},
		"multiple": {keys: []string{"hubspot.tier", "schedule.cron", "model.margin", "segments.tiers.shares"},
			fixHint: "professional"},
	}
	files, err := filepath.Glob("testdata/config/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := tests[strings.TrimSuffix(filepath.Base(f), ".yaml")]; !ok {
			t.Errorf("fixture %s has no test case", f)
		}
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			ps := checkFile(t, filepath.Join("testdata", "config", name+".yaml"))
			var got []string
			for _, p := range ps {
				got = append(got, p.Key)
				if p.Msg == "" || p.Fix == "" {
					t.Errorf("problem %+v lacks a message or a fix", p)
				}
			}
			want := slices.Clone(tt.keys)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("keys = %q, want %q\nproblems:\n%v", got, want, ps)
			}
			if tt.fixHint != "" && !strings.Contains(ps[0].Fix, tt.fixHint) {
				t.Errorf("fix %q does not mention %q", ps[0].Fix, tt.fixHint)
			}
		})
	}
}

func TestConfig_Validate_Default(t *testing.T) {
	if err := config.DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
}

func TestParseConfig_OutputsOverlayDefaults(t *testing.T) {
	cfg, err := config.ParseConfig(strings.NewReader("outputs:\n  properties:\n    simple: off\n    tier: my_tier\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Property("simple"); got != "" {
		t.Errorf("simple = %q, want off", got)
	}
	if got := cfg.Property("tier"); got != "my_tier" {
		t.Errorf("tier = %q, want my_tier", got)
	}
	if got := cfg.Property("total"); got != "clv_total" {
		t.Errorf("total = %q, want the default clv_total", got)
	}
}

func TestParseProblems_ReportsEveryUnknownKey(t *testing.T) {
	src := []byte("hubspot:\n  teir: pro\nmodel:\n  horizon: 12\n")
	_, err := config.ParseConfig(bytes.NewReader(src))
	if err == nil {
		t.Fatal("want an error for unknown keys")
	}
	ps := config.ParseProblems(src, err)
	if len(ps) != 2 || ps[0].Key != "hubspot.teir" || ps[1].Key != "model.horizon" {
		t.Fatalf("problems = %v, want hubspot.teir and model.horizon", ps)
	}
	if !strings.Contains(ps[0].Fix, "hubspot.tier") || !strings.Contains(ps[1].Fix, "model.horizon_months") {
		t.Errorf("fixes do not suggest the right keys: %v", ps)
	}
}

// One pass shows every problem of a file: syntax, unknown keys, types and
// ranges at once, in plain words (measured: three edit-and-rerun rounds for
// seven problems, and Go type names in the messages).
func TestParseAll_EveryProblemAtOnceInPlainWords(t *testing.T) {
	src := []byte(`hubspot:
  rate_limt_share: 0.8
model:
  margin: 35%
  horizon_months: "twelve"
  annual_discount_rate: -2
write_back:
  min_change: 5
  batch_size: 1000
`)
	_, err := config.ParseAll(src)
	var ps config.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("ParseAll: %v, want Problems", err)
	}
	keys := map[string]config.Problem{}
	for _, p := range ps {
		keys[p.Key] = p
	}
	for _, k := range []string{"hubspot.rate_limt_share", "model.margin", "model.horizon_months", "model.annual_discount_rate", "write_back.min_change", "write_back.batch_size"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("no problem for %s; got %v", k, ps)
		}
	}
	if p := keys["model.margin"]; !strings.Contains(p.Fix, "0.35") {
		t.Errorf("model.margin fix %q does not say to write 0.35 for 35%%", p.Fix)
	}
	for _, p := range ps {
		for _, goName := range []string{"float64", "int", "!!str", "unmarshal"} {
			if strings.Contains(p.Msg+p.Fix, goName) {
				t.Errorf("%s: %q names a Go or YAML internal %q", p.Key, p.Msg, goName)
			}
		}
	}
}

// Either source_property key alone names the acquisition source: the other's
// default does not overrule it.
func TestConfig_SourceProperty(t *testing.T) {
	for _, c := range []struct{ deals, reports, want string }{
		{config.DefaultSourceProperty, config.DefaultSourceProperty, config.DefaultSourceProperty},
		{"lifecyclestage", config.DefaultSourceProperty, "lifecyclestage"},
		{config.DefaultSourceProperty, "first_touch", "first_touch"},
		{"lifecyclestage", "first_touch", "first_touch"},
		{"", config.DefaultSourceProperty, config.DefaultSourceProperty},
		{"lifecyclestage", "", "lifecyclestage"},
	} {
		cfg := config.DefaultConfig()
		cfg.Deals.SourceProperty, cfg.Reports.SourceProperty = c.deals, c.reports
		if got := cfg.SourceProperty(); got != c.want {
			t.Errorf("deals %q, reports %q: %q, want %q", c.deals, c.reports, got, c.want)
		}
	}
}
