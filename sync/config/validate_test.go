package config_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/hubspot/fakehub"
	hsync "github.com/clvsync/clvsync/sync"
	"github.com/clvsync/clvsync/sync/config"
)

// liveToken is long enough that the client's token redaction never garbles
// error messages (a one-letter token would redact every "t").
const liveToken = "pat-validate-test"

// livePortal serves a small fakehub portal over HTTP and returns it with a
// client holding token.
func livePortal(tb testing.TB, token string) (*fakehub.Hub, *hubspot.Client, string) {
	tb.Helper()
	hub, err := fakehub.New(fakehub.Config{Token: liveToken, Contacts: 100, Seed: 1,
		Anchor: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), LimitScale: 50})
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(hub)
	tb.Cleanup(srv.Close)
	client, err := hubspot.New(hubspot.Options{BaseURL: srv.URL, Token: token, MaxRetries: -1})
	if err != nil {
		tb.Fatal(err)
	}
	return hub, client, srv.URL
}

func problemKeys(ps config.Problems) []string {
	var keys []string
	for _, p := range ps {
		keys = append(keys, p.Key)
	}
	slices.Sort(keys)
	return keys
}

func TestValidatePortal_Good(t *testing.T) {
	_, client, url := livePortal(t, liveToken)
	cfg := config.DefaultConfig()
	cfg.HubSpot.BaseURL = url
	rep, err := config.ValidatePortal(context.Background(), cfg, client)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) > 0 {
		t.Fatalf("problems on a good config: %v", rep.Problems)
	}
	if rep.PortalID != fakehub.DefaultPortalID {
		t.Errorf("PortalID = %d, want %d", rep.PortalID, fakehub.DefaultPortalID)
	}
	notes := strings.Join(rep.Notes, "\n")
	for _, want := range []string{config.ScopeContactsWrite, config.ScopeSchemasWrite, "can be created by `clvsync setup`"} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes do not mention %q:\n%s", want, notes)
		}
	}
	// After setup, nothing is left to create.
	if _, err := hsync.Setup(context.Background(), client.Properties, cfg, false); err != nil {
		t.Fatal(err)
	}
	rep, err = config.ValidatePortal(context.Background(), cfg, client)
	if err != nil || len(rep.Problems) > 0 {
		t.Fatalf("after setup: %v %v", err, rep.Problems)
	}
	if notes := strings.Join(rep.Notes, "\n"); strings.Contains(notes, "can be created") {
		t.Errorf("after setup the notes still list properties to create:\n%s", notes)
	}
}

// TestValidatePortal_Mistakes has one case per class of mistake only the
// portal can reveal.
func TestValidatePortal_Mistakes(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*config.Config)
		prepare func(*testing.T, *hubspot.Client)
		keys    []string
		msg     string // the first problem's message contains this
	}{
		{name: "amount property missing", mutate: func(c *config.Config) { c.Deals.AmountProperty = "amount_usd" },
			keys: []string{"deals.amount_property"}, msg: `no deal property "amount_usd"`},
		{name: "amount property not a number", mutate: func(c *config.Config) { c.Deals.AmountProperty = "dealname" },
			keys: []string{"deals.amount_property"}, msg: "type string, not number"},
		{name: "close date not a date", mutate: func(c *config.Config) { c.Deals.CloseDateProperty = "amount" },
			keys: []string{"deals.close_date_property"}, msg: "not date or datetime"},
		{name: "currency property missing", mutate: func(c *config.Config) { c.Deals.CurrencyProperty = "currency" },
			keys: []string{"deals.currency_property"}, msg: `no deal property "currency"`},
		{name: "won stage unknown", mutate: func(c *config.Config) {
			c.Deals.WonStages = config.WonStages{Stages: []config.StageRef{{Pipeline: "default", Stage: "won"}}}
		}, keys: []string{"deals.won_stages[0]"}, msg: `no stage "won"`},
		{name: "won stage pipeline unknown", mutate: func(c *config.Config) {
			c.Deals.WonStages = config.WonStages{Stages: []config.StageRef{{Pipeline: "sales", Stage: "closedwon"}}}
		}, keys: []string{"deals.won_stages[0]"}, msg: `no deal pipeline "sales"`},
		{name: "pipeline unknown", mutate: func(c *config.Config) { c.Deals.Pipelines = []string{"999"} },
			// auto then finds no won stage in the counted pipelines either.
			keys: []string{"deals.pipelines[0]", "deals.won_stages"}, msg: `no deal pipeline "999"`},
		{name: "currency not in use", mutate: func(c *config.Config) { c.Deals.Currencies = []string{"USD", "JPY"} },
			keys: []string{"deals.currencies[1]"}, msg: `currency "JPY"`},
		{name: "home currency differs", mutate: func(c *config.Config) { c.Deals.HomeCurrency = "EUR" },
			keys: []string{"deals.home_currency"}, msg: "company currency USD"},
		{name: "source property missing", mutate: func(c *config.Config) { c.Reports.SourceProperty = "utm_source" },
			keys: []string{"reports.source_property"}, msg: `no contact property "utm_source"`},
		{name: "output property has the wrong type",
			prepare: func(t *testing.T, c *hubspot.Client) {
				if _, err := c.Properties.Create(context.Background(), "contacts", hubspot.PropertyCreate{
					Name: "clv_total", Label: "CLV total (old)", Type: "string", FieldType: "text", GroupName: "contactinformation"}); err != nil {
					t.Fatal(err)
				}
			},
			keys: []string{"outputs.properties.total"}, msg: "type string; clvsync writes number"},
		{name: "output mapped to a HubSpot property", mutate: func(c *config.Config) { c.Outputs.Properties["tier"] = "lifecyclestage" },
			keys: []string{"outputs.properties.tier"}, msg: "HubSpot-defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, client, url := livePortal(t, liveToken)
			cfg := config.DefaultConfig()
			cfg.HubSpot.BaseURL = url
			if tt.mutate != nil {
				tt.mutate(&cfg)
			}
			if tt.prepare != nil {
				tt.prepare(t, client)
			}
			rep, err := config.ValidatePortal(context.Background(), cfg, client)
			if err != nil {
				t.Fatal(err)
			}
			if got := problemKeys(rep.Problems); !slices.Equal(got, tt.keys) {
				t.Fatalf("keys = %q, want %q\n%v", got, tt.keys, rep.Problems)
			}
			if !strings.Contains(rep.Problems[0].Msg, tt.msg) {
				t.Errorf("message %q does not contain %q", rep.Problems[0].Msg, tt.msg)
			}
			for _, p := range rep.Problems {
				if p.Fix == "" {
					t.Errorf("problem %v has no fix", p)
				}
			}
		})
	}
}

func TestValidatePortal_MissingScopes(t *testing.T) {
	hub, client, url := livePortal(t, liveToken)
	if err := hub.SetFaults(fakehub.Faults{DenyScopes: []string{config.ScopeDealsRead}}); err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultConfig()
	cfg.HubSpot.BaseURL = url
	rep, err := config.ValidatePortal(context.Background(), cfg, client)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Problems) != 1 {
		t.Fatalf("problems = %v, want one MISSING_SCOPES problem", rep.Problems)
	}
	p := rep.Problems[0]
	if p.Key != "HUBSPOT_TOKEN" || !strings.Contains(p.Msg, "MISSING_SCOPES") || !strings.Contains(p.Msg, config.ScopeDealsRead) {
		t.Errorf("problem = %v, want MISSING_SCOPES naming %s", p, config.ScopeDealsRead)
	}
}

func TestValidatePortal_TokenRejected(t *testing.T) {
	_, client, url := livePortal(t, "wrong")
	cfg := config.DefaultConfig()
	cfg.HubSpot.BaseURL = url
	rep, err := config.ValidatePortal(context.Background(), cfg, client)
	if err != nil {
		t.Fatal(err)
	}
	if got := problemKeys(rep.Problems); !slices.Equal(got, []string{"HUBSPOT_TOKEN"}) || !strings.Contains(rep.Problems[0].Msg, "401") {
		t.Fatalf("problems = %v, want one 401 problem", rep.Problems)
	}
}

func TestInspectPortal(t *testing.T) {
	_, client, _ := livePortal(t, liveToken)
	facts, err := config.InspectPortal(context.Background(), client)
	if err != nil {
		t.Fatal(err)
	}
	if want := []config.StageRef{{Pipeline: "default", Stage: "closedwon"}}; !slices.Equal(facts.WonStages, want) {
		t.Errorf("WonStages = %v, want %v", facts.WonStages, want)
	}
	if facts.AmountProperty != "amount_in_home_currency" || facts.HomeCurrency != "USD" {
		t.Errorf("AmountProperty %q HomeCurrency %q", facts.AmountProperty, facts.HomeCurrency)
	}
	if !slices.Contains(facts.Currencies, "EUR") || !slices.Contains(facts.Currencies, "USD") {
		t.Errorf("Currencies = %v, want EUR and USD among them", facts.Currencies)
	}
	cfg := config.StarterConfig()
	facts.Apply(&cfg)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("pre-filled config does not validate: %v", err)
	}
	rep, err := config.ValidatePortal(context.Background(), cfg, client)
	if err != nil || len(rep.Problems) > 0 {
		t.Fatalf("pre-filled config fails live validation: %v %v", err, rep.Problems)
	}
}
