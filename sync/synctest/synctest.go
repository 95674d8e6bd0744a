// Package synctest serves a generated fakehub portal over HTTP and wires a
// sync.Runner to it with a bolt state file, for the integration tests of
// sync, sync/report and cmd.
package synctest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/hubspot/fakehub"
	"github.com/clvsync/clvsync/state"
	hsync "github.com/clvsync/clvsync/sync"
	"github.com/clvsync/clvsync/sync/config"
)

// Token is the token the portal accepts.
const Token = "test-token"

// Anchor is the date the generated portal's history ends at.
var Anchor = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// Env is a served portal, a client, a store and a runner on them.
type Env struct {
	Hub    *fakehub.Hub
	URL    string
	Client *hubspot.Client
	Store  *state.Store
	Config config.Config
	Runner *hsync.Runner
	// Now is the runner's clock; tests move it.
	Now time.Time
}

// New serves the portal of about contacts contacts generated from seed and
// builds the runner on the default config as mutate edits it. The clock
// starts an hour after Anchor. Everything is closed when the test ends.
func New(tb testing.TB, contacts int, seed int64, mutate func(*config.Config)) *Env {
	tb.Helper()
	return NewHub(tb, fakehub.Config{Contacts: contacts, Seed: seed}, mutate)
}

// NewHub is New with the fakehub settings of hc (merges, search lag,
// webhooks, faults). Token, Anchor and LimitScale default to Token, Anchor
// and 50.
func NewHub(tb testing.TB, hc fakehub.Config, mutate func(*config.Config)) *Env {
	tb.Helper()
	if hc.Token == "" {
		hc.Token = Token
	}
	if hc.Anchor.IsZero() {
		hc.Anchor = Anchor
	}
	if hc.LimitScale == 0 {
		hc.LimitScale = 50
	}
	hub, err := fakehub.New(hc)
	if err != nil {
		tb.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	url, done, err := hub.ListenAndServe(ctx, "127.0.0.1:0")
	if err != nil {
		stop()
		tb.Fatal(err)
	}
	tb.Cleanup(func() { stop(); <-done; _ = hub.Close() })
	cfg := config.DefaultConfig()
	cfg.HubSpot.BaseURL, cfg.State.Path = url, filepath.Join(tb.TempDir(), "clvsync.db")
	if mutate != nil {
		mutate(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	client, err := hubspot.New(hubspot.Options{BaseURL: url, Token: Token, APIVersion: cfg.HubSpot.APIVersion,
		MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	store, err := state.Open(cfg.State.Path, state.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	e := &Env{Hub: hub, URL: url, Client: client, Store: store, Config: cfg, Now: Anchor.Add(time.Hour)}
	e.Runner = &hsync.Runner{Client: hsync.NewHubSpot(client), Store: store, Config: cfg, Clock: func() time.Time { return e.Now }}
	return e
}

// RunMonthly runs the job n times, 30 days apart, and returns the last
// run's summary.
func (e *Env) RunMonthly(tb testing.TB, n int) hsync.Summary {
	tb.Helper()
	var sum hsync.Summary
	for i := range n {
		var err error
		if sum, err = e.Runner.Run(context.Background(), hsync.RunOptions{}); err != nil {
			tb.Fatalf("run %d: %v", i+1, err)
		}
		e.Now = e.Now.Add(30 * 24 * time.Hour)
	}
	return sum
}
