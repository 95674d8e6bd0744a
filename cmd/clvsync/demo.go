package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/hubspot/fakehub"
	"github.com/clvsync/clvsync/state"
	hsync "github.com/clvsync/clvsync/sync"
	"github.com/clvsync/clvsync/sync/config"
)

const demoToken = "demo-token"

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("demo", stderr, "demo [--dir DIR] [--contacts N] [--seed S] [--live]")
	dir := fs.String("dir", "", "folder for the state file, config and report (default: a new temporary folder)")
	contacts := fs.Int("contacts", 5000, "contacts in the generated portal")
	seed := fs.Int64("seed", 1, "seed of the generated portal")
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn or error")
	live := fs.Bool("live", false, "then run serve with HubSpot webhooks on, close a deal in the fake HubSpot, and show it reach the contact within seconds")
	if code, ok := parseArgs(fs, args, stdout); !ok {
		return code
	}
	if *contacts < 1 || *contacts > 1_000_000 {
		return fail(stderr, config.Problems{{Key: "--contacts", Msg: fmt.Sprintf("%d is out of range", *contacts), Fix: "use 1 to 1000000"}})
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "clvsync-demo-")
		if err != nil {
			return fail(stderr, err)
		}
		*dir = d
	} else if err := os.MkdirAll(*dir, 0o755); err != nil {
		return fail(stderr, err)
	}
	started := time.Now()
	today := started.UTC().Truncate(24 * time.Hour)
	fmt.Fprintf(stdout, "Generating a HubSpot portal with %d contacts (seed %d)...\n", *contacts, *seed)
	hub, err := fakehub.New(fakehub.Config{Token: demoToken, Contacts: *contacts, Seed: *seed, Anchor: today})
	if err != nil {
		return fail(stderr, err)
	}
	hubCtx, stopHub := context.WithCancel(ctx)
	baseURL, hubDone, err := hub.ListenAndServe(hubCtx, "127.0.0.1:0")
	if err != nil {
		stopHub()
		return fail(stderr, err)
	}
	defer func() { stopHub(); <-hubDone }()
	fmt.Fprintf(stdout, "Fake HubSpot listening on %s\n", baseURL)

	cfg := config.DefaultConfig()
	cfg.HubSpot.BaseURL = baseURL
	// The demo portal's companies have several buying contacts: show
	// their values as customers of their own too.
	cfg.Companies = true
	cfg.State.Path = filepath.Join(*dir, "clvsync.db")
	if err := writeDemoConfig(filepath.Join(*dir, "clvsync.yaml"), cfg); err != nil {
		return fail(stderr, err)
	}
	ui := newRunUI(stderr, config.OperationsConfig{LogFormat: "auto", LogLevel: *logLevel}, demoToken)
	defer ui.Done()
	logger := ui.Logger
	store, err := openStore(cfg)
	if err != nil {
		return fail(stderr, err)
	}
	defer store.Close()
	client, err := newClient(cfg, demoToken, logger, nil)
	if err != nil {
		return fail(stderr, err)
	}
	runner := &hsync.Runner{Client: hsync.NewHubSpot(client), Store: store, Config: cfg, Logger: logger, PullGCPercent: pullGCPercent(), ComputeGCPercent: computeGCPercent(), Progress: ui.Progress}
	rep, err := runner.Run(ctx, hsync.RunOptions{})
	ui.Done()
	fmt.Fprintln(stdout)
	if err != nil {
		printOutcome(stdout, err)
	}
	printReport(stdout, rep, filepath.Join(*dir, "clvsync.yaml"))
	if err != nil {
		return fail(stderr, err)
	}
	st := hub.Stats()
	counts, err := store.Counts()
	if err != nil {
		return fail(stderr, err)
	}
	minCalls := ceilDiv(counts.Deals, 100) + ceilDiv(counts.Contacts, 100) + ceilDiv(rep.Written, 100)
	written := "written/100"
	if rep.Companies != nil {
		minCalls += ceilDiv(counts.Companies, 100) + ceilDiv(rep.Companies.Written, 100)
		written = "companies/100 + written/100 (contacts and companies)"
	}
	fmt.Fprintf(stdout, "\nPortal: %d deals stored, %d contacts stored, %d of them with deals, %d companies.\n", counts.Deals, counts.Contacts, counts.Customers, counts.Companies)
	fmt.Fprintf(stdout, "Fake HubSpot served %d requests (minimum for this work: %d = deals/100 + contacts/100 + %s, plus setup), %d rate-limited.\n",
		st.TotalRequests, minCalls, written, st.RateLimited)
	if err := printTopCompany(stdout, store, cfg); err != nil {
		return fail(stderr, err)
	}
	report, err := writeReportHTML(ctx, store, cfg, *dir)
	if err != nil {
		return fail(stderr, err)
	}
	if *live {
		if err := demoLive(ctx, stdout, hub, baseURL, cfg, store, runner.Run, logger); err != nil {
			return fail(stderr, fmt.Errorf("demo --live: %w", err))
		}
	}
	fmt.Fprintf(stdout, "Done in %s. State, config and report are in %s\n", time.Since(started).Round(time.Millisecond), *dir)
	fmt.Fprintf(stdout, "HTML report: %s\n", report)
	fmt.Fprintf(stdout, "Next: go run ./cmd/clvsync report --config %s\n", filepath.Join(*dir, "clvsync.yaml"))
	return exitOK
}

func ceilDiv(n, d int) int { return int(math.Ceil(float64(n) / float64(d))) }

// printTopCompany shows the B2B view: among the companies with several
// buying contacts, the one worth most as a customer of its own, and what
// was written to it.
func printTopCompany(w io.Writer, store *state.Store, cfg config.Config) error {
	buyers := map[string]int{}
	if err := store.ForEachCustomer(func(c state.Contact, _ []state.Deal) error {
		if c.CompanyID != "" {
			buyers[c.CompanyID]++
		}
		return nil
	}); err != nil {
		return err
	}
	var top state.Result
	err := store.CompanyUnit().ForEachResult(func(r state.Result) error {
		if buyers[r.ContactID] >= 2 && (top.ContactID == "" || r.CLV.GreaterThan(top.CLV)) {
			top = r
		}
		return nil
	})
	if err != nil || top.ContactID == "" {
		return err
	}
	name := "company " + top.ContactID
	if c, ok, _ := store.Company(top.ContactID); ok && c.Name != "" {
		name = c.Name + " (company " + top.ContactID + ")"
	}
	v := func(k config.OutputKey) string { return top.Values[string(k)] }
	fmt.Fprintf(w, "Top company with several buyers: %s, %d buying contacts, %s orders: CLV %s %s (predicted part %s to %s), tier %s, churn risk %s; written to its own %s properties.\n",
		name, buyers[top.ContactID], v(config.OutOrders), cfg.Deals.HomeCurrency, moneyOrDash(v(config.OutTotal)),
		moneyOrDash(v(config.OutPredictedLow)), moneyOrDash(v(config.OutPredictedHigh)), v(config.OutTier), v(config.OutChurnRisk), cfg.Outputs.Group)
	return nil
}

// writeDemoConfig saves the demo's config so `report`, `runs` and `status`
// can be pointed at the demo folder afterwards.
func writeDemoConfig(path string, cfg config.Config) error {
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	header := "# Written by `clvsync demo`. The fake HubSpot it points at is gone once the demo ends.\n"
	return os.WriteFile(path, append([]byte(header), b...), 0o600)
}

// demoLive shows the real-time path: serve with webhooks on, the fake
// HubSpot sending signed webhooks to it, and a deal closed for a customer
// reaching the customer's clv_* properties.
func demoLive(ctx context.Context, stdout io.Writer, hub *fakehub.Hub, baseURL string, cfg config.Config, store *state.Store,
	run func(context.Context, hsync.RunOptions) (hsync.Summary, error), logger *slog.Logger) error {
	const secret = "demo-app-client-secret"
	cfg.Webhooks.Enabled = true
	cfg.Webhooks.Quiet, cfg.Webhooks.MaxDelay = config.Duration(300*time.Millisecond), config.Duration(2*time.Second)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	addrc, errc := make(chan string, 1), make(chan error, 1)
	go func() {
		errc <- serve(sctx, cfg, serveDeps{Store: store, Run: run, Logger: logger, WebhookSecret: secret},
			serveOptions{Listen: "127.0.0.1:0", Schedule: cron.Every(24 * time.Hour), OnListen: func(a string) { addrc <- a }})
	}()
	var addr string
	select {
	case a := <-addrc:
		addr = "http://" + a
	case err := <-errc:
		return err
	}
	defer func() { stop(); <-errc }()
	if err := hub.SetWebhooks(fakehub.WebhookSettings{URL: addr + cfg.Webhooks.Path, Secret: secret}); err != nil {
		return err
	}
	var who state.Written
	if err := store.ForEachWritten(func(w state.Written) error {
		if who.ContactID == "" && w.Values[string(config.OutOrders)] != "" {
			who = w
		}
		return nil
	}); err != nil || who.ContactID == "" {
		return fmt.Errorf("no customer to close a deal for (%v)", err)
	}
	name := "contact " + who.ContactID
	if c, ok, _ := store.Contact(who.ContactID); ok && c.Name != "" {
		name = c.Name
	}
	client, err := hubspot.New(hubspot.Options{BaseURL: baseURL, Token: demoToken})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nLive: serve listens for HubSpot webhooks at %s%s. Closing a 2,500 %s deal for %s...\n", addr, cfg.Webhooks.Path, cfg.Deals.HomeCurrency, name)
	start := time.Now()
	if _, err := client.Deals.Create(ctx, map[string]string{
		"dealname": "demo --live", "amount": "2500.00", "dealstage": "closedwon", "pipeline": "default",
		"closedate": start.UTC().Format(time.RFC3339), "deal_currency_code": cfg.Deals.HomeCurrency,
	}, []hubspot.AssociationInput{{ToID: who.ContactID, Types: []hubspot.AssociationSpec{{Category: "HUBSPOT_DEFINED", TypeID: 3}}}}); err != nil {
		return err
	}
	props := []string{cfg.Property(config.OutOrders), cfg.Property(config.OutTotal)}
	for time.Since(start) < 30*time.Second {
		c, err := client.Contacts.Get(ctx, who.ContactID, hubspot.GetOptions{Properties: props})
		if err == nil && c.Properties[props[0]] != who.Values[string(config.OutOrders)] {
			fmt.Fprintf(stdout, "  %.1f s later HubSpot shows %s: %s %s -> %s, %s %s -> %s\n", time.Since(start).Seconds(), name,
				props[0], who.Values[string(config.OutOrders)], c.Properties[props[0]], props[1], moneyOrDash(who.Values[string(config.OutTotal)]), moneyOrDash(c.Properties[props[1]]))
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("the deal did not reach %s within 30 s", name)
}
