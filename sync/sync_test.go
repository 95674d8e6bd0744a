package sync_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/hubspot/fakehub"
	"github.com/clvsync/clvsync/state"
	hsync "github.com/clvsync/clvsync/sync"
	"github.com/clvsync/clvsync/sync/config"
	"github.com/clvsync/clvsync/sync/synctest"
)

const testToken = synctest.Token

var anchor = synctest.Anchor

// env is a fakehub portal served over HTTP, a client and a bolt store.
type env struct {
	hub    *fakehub.Hub
	client *hubspot.Client
	store  *state.Store
	runner *hsync.Runner
	cfg    config.Config
	url    string
}

// setup serves a seeded portal of about contacts contacts (seed 7), with the
// model's minimums lowered for small portals; mutate edits the config.
func setup(t testing.TB, contacts int, mutate func(*config.Config)) *env {
	t.Helper()
	return setupSeed(t, contacts, 7, func(cfg *config.Config) {
		cfg.Model.MinCustomers = 30
		cfg.Model.MinRepeatBuyers = 10
		if mutate != nil {
			mutate(cfg)
		}
	})
}

// setupSeed serves the portal of the given seed with the default config as
// mutate edits it.
func setupSeed(t testing.TB, contacts int, seed int64, mutate func(*config.Config)) *env {
	t.Helper()
	s := synctest.New(t, contacts, seed, mutate)
	return &env{hub: s.Hub, client: s.Client, store: s.Store, cfg: s.Config, url: s.URL, runner: s.Runner}
}

func (e *env) run(t testing.TB, o hsync.RunOptions) hsync.Summary {
	t.Helper()
	rep, err := e.runner.Run(context.Background(), o)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return rep
}

func TestRunner_FirstRunWritesEveryCustomerSecondWritesNothing(t *testing.T) {
	e := setup(t, 400, nil)
	first := e.run(t, hsync.RunOptions{})
	if first.Mode != "full" {
		t.Fatalf("first run mode = %s, want full", first.Mode)
	}
	if first.Customers == 0 || first.Written != first.Customers {
		t.Fatalf("first run wrote %d of %d customers", first.Written, first.Customers)
	}
	counts, err := e.store.Counts()
	if err != nil {
		t.Fatal(err)
	}
	if counts.Written != first.Written {
		t.Errorf("store records %d written, run says %d", counts.Written, first.Written)
	}
	// An hour later: the model's inputs moved a little (customers are an
	// hour older); damping must keep that off HubSpot.
	e.runner.Clock = func() time.Time { return anchor.Add(2 * time.Hour) }
	second := e.run(t, hsync.RunOptions{})
	if second.Mode != "incremental" {
		t.Errorf("second run mode = %s, want incremental", second.Mode)
	}
	if second.Written != 0 || second.Changed != 0 {
		t.Errorf("second run with no HubSpot changes wrote %d (changed %d), want 0", second.Written, second.Changed)
	}
}

func TestRunner_DryRunWritesNothingAndMaxChangesAborts(t *testing.T) {
	e := setup(t, 200, nil)
	rep := e.run(t, hsync.RunOptions{DryRun: true})
	if rep.Changed == 0 || rep.Written != 0 {
		t.Fatalf("dry run: changed %d written %d", rep.Changed, rep.Written)
	}
	if n := e.hub.Stats().RecordsWritten; n != 0 {
		t.Errorf("dry run wrote %d records to HubSpot", n)
	}
	_, err := e.runner.Run(context.Background(), hsync.RunOptions{MaxChanges: "5"})
	if !errors.Is(err, hsync.ErrTooManyChanges) {
		t.Fatalf("max-changes 5: err = %v, want ErrTooManyChanges", err)
	}
	if n := e.hub.Stats().RecordsWritten; n != 0 {
		t.Errorf("aborted run wrote %d records", n)
	}
}
