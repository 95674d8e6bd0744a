package main

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/hubspot/fakehub"
)

// adminToken is the fakehub token of the admin tests; long enough that the
// client's redaction of the token never garbles messages.
const adminToken = "pat-admin-test"

// adminPortal serves a fakehub portal over HTTP, sets HUBSPOT_TOKEN for the
// test and returns the hub and its base URL.
func adminPortal(t *testing.T) (*fakehub.Hub, string) {
	t.Helper()
	hub, err := fakehub.New(fakehub.Config{Token: adminToken, Contacts: 100, Seed: 1,
		Anchor: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), LimitScale: 50})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	t.Setenv("HUBSPOT_TOKEN", adminToken)
	return hub, srv.URL
}

// runCmd runs one command function in-process and returns its exit code,
// stdout and stderr.
func runCmd(t *testing.T, fn func(context.Context, []string, io.Writer, io.Writer) int, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := fn(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

// initFromPortal writes a config pre-filled from the portal and returns its path.
func initFromPortal(t *testing.T, url string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "clvsync.yaml")
	if code, out, errs := runCmd(t, runInit, "--config", path, "--base-url", url); code != exitOK {
		t.Fatalf("init: exit %d\n%s%s", code, out, errs)
	}
	return path
}

func TestRunInit_WithoutToken(t *testing.T) {
	t.Setenv("HUBSPOT_TOKEN", "")
	path := filepath.Join(t.TempDir(), "clvsync.yaml")
	code, _, errs := runCmd(t, runInit, "--config", path)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	cfg, err := readConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("starter file does not validate: %v", err)
	}
	if !cfg.Deals.WonStages.Auto {
		t.Errorf("won_stages = %+v, want auto without a portal", cfg.Deals.WonStages)
	}
	before, _ := os.ReadFile(path)

	code, _, errs = runCmd(t, runInit, "--config", path)
	if code != exitUsage || !strings.Contains(errs, "--force") {
		t.Errorf("init over an existing file: exit %d, stderr %q; want refusal naming --force", code, errs)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Error("init without --force changed the existing file")
	}
	if code, _, errs := runCmd(t, runInit, "--config", path, "--force"); code != exitOK {
		t.Errorf("init --force: exit %d: %s", code, errs)
	}
}

func TestRunInit_FromPortal(t *testing.T) {
	_, url := adminPortal(t)
	path := initFromPortal(t, url)
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"stage: closedwon", "amount_property: amount_in_home_currency", "EUR", "base_url: " + url, "Pre-filled from the portal"} {
		if !bytes.Contains(src, []byte(want)) {
			t.Errorf("pre-filled file lacks %q", want)
		}
	}
	if bytes.Contains(src, []byte(adminToken)) {
		t.Fatal("the token was written into the config file")
	}
}

func TestRunInit_TokenRejected(t *testing.T) {
	_, url := adminPortal(t)
	t.Setenv("HUBSPOT_TOKEN", "pat-wrong-token")
	path := filepath.Join(t.TempDir(), "clvsync.yaml")
	code, _, errs := runCmd(t, runInit, "--config", path, "--base-url", url)
	if code != exitAuth || !strings.Contains(errs, "--offline") {
		t.Fatalf("exit %d, stderr %q; want %d and a hint", code, errs, exitAuth)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("init wrote a file although the portal could not be read")
	}
}

func TestRunValidate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(string) string // changes the pre-filled file
		setup func(*testing.T, *fakehub.Hub)
		code  int
		want  []string // stdout contains each
	}{
		{name: "good", code: exitOK, want: []string{"OK (checked offline and against portal"}},
		{name: "offline mistakes, all at once", code: exitUsage,
			edit: func(s string) string {
				s = strings.Replace(s, "tier: professional", "tier: gold", 1)
				s = strings.Replace(s, "margin: 1", "margin: 35", 1)
				return strings.Replace(s, `cron: 0 */6 * * *`, `cron: "0 25 * * *"`, 1)
			},
			want: []string{"3 problem(s)", "hubspot.tier", "model.margin", "schedule.cron", "fix: "}},
		{name: "unknown key", code: exitUsage,
			edit: func(s string) string { return strings.Replace(s, "rate_limit_share:", "rate_limt_share:", 1) },
			want: []string{"hubspot.rate_limt_share", "did you mean hubspot.rate_limit_share"}},
		{name: "input property missing", code: exitUsage,
			edit: func(s string) string {
				return strings.Replace(s, "\n  amount_property: amount_in_home_currency", "\n  amount_property: amount_usd", 1)
			},
			want: []string{"deals.amount_property", `no deal property "amount_usd"`}},
		{name: "won stage missing", code: exitUsage,
			edit: func(s string) string { return strings.Replace(s, "stage: closedwon", "stage: won", 1) },
			want: []string{"deals.won_stages[0]", `no stage "won"`}},
		{name: "output property of the wrong type", code: exitUsage,
			setup: func(t *testing.T, hub *fakehub.Hub) { createContactProperty(t, hub, "clv_tier", "number") },
			want:  []string{"outputs.properties.tier", "type number; clvsync writes enumeration"}},
		{name: "missing scope", code: exitAuth,
			setup: func(t *testing.T, hub *fakehub.Hub) {
				if err := hub.SetFaults(fakehub.Faults{DenyScopes: []string{"crm.objects.contacts.read"}}); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"MISSING_SCOPES", "crm.objects.contacts.read"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hub, url := adminPortal(t)
			path := initFromPortal(t, url)
			if tt.edit != nil {
				src, _ := os.ReadFile(path)
				if err := os.WriteFile(path, []byte(tt.edit(string(src))), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tt.setup != nil {
				tt.setup(t, hub)
			}
			code, out, errs := runCmd(t, runValidate, "--config", path)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, out, errs)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestRunValidate_NoToken(t *testing.T) {
	_, url := adminPortal(t)
	path := initFromPortal(t, url)
	t.Setenv("HUBSPOT_TOKEN", "")
	code, out, _ := runCmd(t, runValidate, "--config", path)
	if code != exitAuth || !strings.Contains(out, "HUBSPOT_TOKEN") || !strings.Contains(out, "--offline") {
		t.Errorf("exit %d, output:\n%s\nwant %d naming HUBSPOT_TOKEN and --offline", code, out, exitAuth)
	}
	if code, out, _ := runCmd(t, runValidate, "--config", path, "--offline"); code != exitOK {
		t.Errorf("--offline: exit %d:\n%s", code, out)
	}
}

// createContactProperty creates a contact property directly in the portal.
func createContactProperty(t *testing.T, hub *fakehub.Hub, name, typ string) {
	t.Helper()
	srv := httptest.NewServer(hub)
	defer srv.Close()
	c, err := hubspot.New(hubspot.Options{BaseURL: srv.URL, Token: adminToken})
	if err != nil {
		t.Fatal(err)
	}
	field := map[string]string{"number": "number", "string": "text"}[typ]
	if _, err := c.Properties.Create(context.Background(), "contacts", hubspot.PropertyCreate{
		Name: name, Label: name, Type: typ, FieldType: field, GroupName: "contactinformation"}); err != nil {
		t.Fatal(err)
	}
}

// writes counts the requests that change the portal's schema.
func writes(hub *fakehub.Hub) int64 {
	var n int64
	for route, c := range hub.Stats().Requests {
		if strings.HasPrefix(route, "POST ") || strings.HasPrefix(route, "PATCH ") {
			n += c
		}
	}
	return n
}

func TestRunSetup_Idempotent(t *testing.T) {
	hub, url := adminPortal(t)
	path := initFromPortal(t, url)

	code, out, errs := runCmd(t, runSetup, "--config", path, "--dry-run")
	if code != exitOK || !strings.Contains(out, "Properties to create (29)") || writes(hub) != 0 {
		t.Fatalf("dry run: exit %d, %d writes\n%s%s", code, writes(hub), out, errs)
	}
	code, out, errs = runCmd(t, runSetup, "--config", path)
	if code != exitOK || !strings.Contains(out, "Properties created (29)") {
		t.Fatalf("first setup: exit %d\n%s%s", code, out, errs)
	}
	before := writes(hub)
	code, out, errs = runCmd(t, runSetup, "--config", path)
	if code != exitOK || !strings.Contains(out, "Nothing to change") {
		t.Fatalf("second setup: exit %d\n%s%s", code, out, errs)
	}
	if after := writes(hub); after != before {
		t.Errorf("second setup made %d writes, want 0", after-before)
	}

	// A new tier name adds an option; nothing else changes.
	src, _ := os.ReadFile(path)
	src = bytes.Replace(src, []byte("names: [top, middle, bottom]"), []byte("names: [top, middle, bottom, dormant]"), 1)
	src = bytes.Replace(src, []byte("shares: [0.2, 0.6, 0.2]"), []byte("shares: [0.2, 0.5, 0.2, 0.1]"), 1)
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs = runCmd(t, runSetup, "--config", path)
	if code != exitOK || !strings.Contains(out, "Options added to clv_tier: dormant") {
		t.Fatalf("setup with a new tier: exit %d\n%s%s", code, out, errs)
	}
}

func TestRunSetup_WrongTypeReportedNotChanged(t *testing.T) {
	hub, url := adminPortal(t)
	path := initFromPortal(t, url)
	createContactProperty(t, hub, "clv_total", "string")
	code, out, errs := runCmd(t, runSetup, "--config", path)
	if code != exitUsage || !strings.Contains(out, "outputs.properties.total") || !strings.Contains(out, "never changes") {
		t.Fatalf("exit %d, want %d naming outputs.properties.total\n%s%s", code, exitUsage, out, errs)
	}
}

func TestRunProperties(t *testing.T) {
	_, url := adminPortal(t)
	code, out, errs := runCmd(t, runProperties, "--base-url", url, "--config", filepath.Join(t.TempDir(), "none.yaml"))
	if code != exitUsage {
		t.Errorf("an explicit --config that does not exist: exit %d, want %d", code, exitUsage)
	}
	t.Chdir(t.TempDir()) // no clvsync.yaml here: the defaults do
	code, out, errs = runCmd(t, runProperties, "--base-url", url)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, want := range []string{"deal properties", "contact properties", "amount_in_home_currency", "Amount in company currency", "closedate", "datetime", "hs_analytics_source"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	code, out, _ = runCmd(t, runProperties, "--base-url", url, "--pipelines")
	if code != exitOK || !strings.Contains(out, "closedwon") || !strings.Contains(out, "yes") {
		t.Errorf("--pipelines: exit %d\n%s", code, out)
	}
	code, out, _ = runCmd(t, runProperties, "--base-url", url, "--object", "deals", "--match", "currency")
	if code != exitOK || !strings.Contains(out, "deal_currency_code") || strings.Contains(out, "closedate") {
		t.Errorf("--match currency: exit %d\n%s", code, out)
	}
}
