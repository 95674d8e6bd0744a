package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/clvsync/clvsync/hubspot/fakehub"
	"github.com/clvsync/clvsync/sync/config"
)

func runFakehub(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("fakehub", stderr, "fakehub [--listen 127.0.0.1:8089] [--token T] [--contacts N] [--seed S] [--tier professional] [--limit-scale 1] [--faults SPEC]")
	addr := fs.String("listen", "127.0.0.1:8089", "address to listen on (as serve's --listen)")
	fs.StringVar(addr, "addr", "127.0.0.1:8089", "deprecated spelling of --listen")
	token := fs.String("token", demoToken, "the token clients must send (Authorization: Bearer TOKEN)")
	contacts := fs.Int("contacts", 5000, "contacts in the generated portal")
	seed := fs.Int64("seed", 1, "seed of the generated portal")
	tier := fs.String("tier", "professional", "rate-limit tier: free, starter, professional, enterprise or api-pack")
	scale := fs.Float64("limit-scale", 1, "multiply the rate limits (benchmarks use more than 1)")
	faults := fs.String("faults", "", `inject faults, e.g. "429=0.05,500=0.02,reset=0.01,slow=0.02:2s,truncate=0.01"`)
	anchor := fs.String("anchor", "", "date (YYYY-MM-DD) the generated history ends at (default: today)")
	webhookURL := fs.String("webhook-url", "", "POST HubSpot-shaped, v3-signed webhook batches for every change to this URL (e.g. serve's http://127.0.0.1:9090/webhooks/hubspot)")
	webhookSecret := fs.String("webhook-secret", "", "the app client secret that signs the webhooks (serve needs the same in HUBSPOT_CLIENT_SECRET); default: $HUBSPOT_CLIENT_SECRET")
	webhookScale := fs.Float64("webhook-time-scale", 1, "multiply HubSpot's webhook retry waits (0.01 turns a minute into 0.6 s)")
	searchLag := fs.Duration("search-lag", 0, "how long a change takes to show in search, as HubSpot's index lag (e.g. 5s)")
	if code, ok := parseArgs(fs, args, stdout); !ok {
		return code
	}
	cfg := fakehub.Config{Token: *token, Contacts: *contacts, Seed: *seed, Tier: *tier, LimitScale: *scale,
		Anchor: time.Now().UTC().Truncate(24 * time.Hour), SearchLag: *searchLag,
		WebhookURL: *webhookURL, WebhookSecret: *webhookSecret, WebhookTimeScale: *webhookScale}
	if cfg.WebhookSecret == "" {
		cfg.WebhookSecret = os.Getenv("HUBSPOT_CLIENT_SECRET")
	}
	if cfg.WebhookURL != "" && cfg.WebhookSecret == "" {
		return fail(stderr, config.Problems{{Key: "--webhook-secret", Msg: "webhooks need the app's client secret to sign them",
			Fix: "pass --webhook-secret or set HUBSPOT_CLIENT_SECRET"}})
	}
	if *anchor != "" {
		t, err := time.Parse("2006-01-02", *anchor)
		if err != nil {
			return fail(stderr, config.Problems{{Key: "--anchor", Msg: err.Error(), Fix: "use YYYY-MM-DD"}})
		}
		cfg.Anchor = t
	}
	if *faults != "" {
		f, err := fakehub.ParseFaults(*faults)
		if err != nil {
			return fail(stderr, config.Problems{{Key: "--faults", Msg: err.Error(), Fix: `use e.g. "429=0.05,500=0.02,reset=0.01"`}})
		}
		cfg.Faults = f
	}
	hub, err := fakehub.New(cfg)
	if err != nil {
		return fail(stderr, config.Problems{{Key: "fakehub", Msg: err.Error()}})
	}
	baseURL, done, err := hub.ListenAndServe(ctx, *addr)
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "fakehub serving a portal of %d contacts (seed %d) at %s\n", *contacts, *seed, baseURL)
	fmt.Fprintf(stdout, "  base URL: %s   token: %s\n", baseURL, *token)
	fmt.Fprintf(stdout, "  try:      curl -H 'Authorization: Bearer %s' '%s/crm/v3/objects/deals?limit=2'\n", *token, baseURL)
	fmt.Fprintf(stdout, "  stats:    curl %s/_fakehub/stats\n", baseURL)
	if cfg.WebhookURL != "" {
		fmt.Fprintf(stdout, "  webhooks: every change is POSTed, signed, to %s\n", cfg.WebhookURL)
	}
	// ListenAndServe shuts the server down (5 s grace) once ctx is done.
	if err := <-done; err != nil {
		return fail(stderr, err)
	}
	return exitOK
}
