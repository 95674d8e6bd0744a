package main

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/hubspot/fakehub"
	"github.com/clvsync/clvsync/state"
)

// buildBinary builds clvsync once for the tests that run the real binary.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "clvsync")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// killSwitch serves a hub and SIGKILLs the running child once the hub has
// answered a given number of requests.
type killSwitch struct {
	hub     *fakehub.Hub
	count   atomic.Int64
	killAt  atomic.Int64
	process atomic.Pointer[os.Process]
}

func (k *killSwitch) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := k.count.Add(1)
	if at := k.killAt.Load(); at > 0 && n >= at {
		if p := k.process.Load(); p != nil {
			p.Kill()
		}
	}
	k.hub.ServeHTTP(w, r)
}

const crashNow = "2026-11-01T12:00:00Z"

func newPortal(t *testing.T) (*killSwitch, string) {
	t.Helper()
	hub, err := fakehub.New(fakehub.Config{Token: "crash", Contacts: 300, Seed: 11, Anchor: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), LimitScale: 20})
	if err != nil {
		t.Fatal(err)
	}
	ks := &killSwitch{hub: hub}
	srv := httptest.NewServer(ks)
	t.Cleanup(srv.Close)
	return ks, srv.URL
}

func writeConfig(t *testing.T, dir, baseURL string) string {
	t.Helper()
	path := filepath.Join(dir, "clvsync.yaml")
	cfg := fmt.Sprintf("hubspot:\n  base_url: %s\nstate:\n  path: %s\nwrite_back:\n  batch_size: 25\nmodel:\n  min_customers: 30\n  min_repeat_buyers: 10\n",
		baseURL, filepath.Join(dir, "clvsync.db"))
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runBinary(t *testing.T, bin, config string, ks *killSwitch) (killed bool) {
	t.Helper()
	cmd := exec.Command(bin, "run", "--config", config, "--log-format", "json")
	cmd.Env = append(os.Environ(), "HUBSPOT_TOKEN=crash", "CLVSYNC_NOW="+crashNow)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ks.process.Store(cmd.Process)
	err := cmd.Wait()
	ks.process.Store(nil)
	if err == nil {
		return false
	}
	if ee, ok := err.(*exec.ExitError); ok && ee.ProcessState.String() == "signal: killed" {
		return true
	}
	t.Fatalf("clvsync run: %v\n%s", err, out.String())
	return false
}

// portalValues reads every contact's clv_* properties from the hub.
func portalValues(t *testing.T, baseURL string) map[string]map[string]string {
	t.Helper()
	c, err := hubspot.New(hubspot.Options{BaseURL: baseURL, Token: "crash"})
	if err != nil {
		t.Fatal(err)
	}
	props := []string{"clv_historical", "clv_historical_revenue", "clv_predicted", "clv_total", "clv_orders", "clv_tier", "clv_rfm_segment", "clv_p_alive", "clv_quadrant"}
	return contactValues(t, c, props)
}

// contactValues reads props of every contact that has one of them set.
func contactValues(t *testing.T, c *hubspot.Client, props []string) map[string]map[string]string {
	t.Helper()
	out := map[string]map[string]string{}
	for o, err := range c.Contacts.All(context.Background(), hubspot.ListOptions{Limit: 100, Properties: props}) {
		if err != nil {
			t.Fatal(err)
		}
		vals := map[string]string{}
		for _, p := range props {
			if v := o.Properties[p]; v != "" {
				vals[p] = v
			}
		}
		if len(vals) > 0 {
			out[o.ID] = vals
		}
	}
	return out
}

func storeDeals(t *testing.T, path string) map[string][]string {
	t.Helper()
	st, err := state.Open(path, state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	out := map[string][]string{}
	err = st.ForEachCustomer(func(c state.Contact, deals []state.Deal) error {
		for _, d := range deals {
			out[c.ID] = append(out[c.ID], d.ID+"="+d.HomeAmount.Decimal.String())
		}
		slices.Sort(out[c.ID])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCrash_KilledRunsEndLikeACleanRun kills the real binary with SIGKILL at
// several points of a sync (setup, mid full listing, contact reads,
// mid write-back, a second time in the resumed run) and checks that the
// runs that follow end with the same store and the same HubSpot values as
// one uninterrupted run against an identical portal.
func TestCrash_KilledRunsEndLikeACleanRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)

	cleanHub, cleanURL := newPortal(t)
	cleanDir := t.TempDir()
	if runBinary(t, bin, writeConfig(t, cleanDir, cleanURL), cleanHub) {
		t.Fatal("clean run was killed")
	}
	cleanCalls := cleanHub.count.Load()
	want := portalValues(t, cleanURL)
	if len(want) == 0 {
		t.Fatal("clean run wrote nothing")
	}

	hub, url := newPortal(t)
	dir := t.TempDir()
	config := writeConfig(t, dir, url)
	kills := 0
	// Kill points as request counts into the sequence of one full run.
	for _, at := range []int64{3, 7, cleanCalls / 2, cleanCalls - 4, 5} {
		hub.killAt.Store(hub.count.Load() + at)
		if runBinary(t, bin, config, hub) {
			kills++
		}
	}
	hub.killAt.Store(0)
	if runBinary(t, bin, config, hub) {
		t.Fatal("final run was killed")
	}
	if kills < 3 {
		t.Fatalf("only %d of the runs were killed mid-way; the kill points missed", kills)
	}
	got := portalValues(t, url)
	if len(got) != len(want) {
		t.Errorf("HubSpot has values on %d contacts after the crashes, %d after a clean run", len(got), len(want))
	}
	diffs := 0
	for id, w := range want {
		if g := got[id]; !maps.Equal(g, w) {
			if diffs++; diffs <= 5 {
				t.Errorf("contact %s: after crashes %v, clean %v", id, g, w)
			}
		}
	}
	if diffs > 0 {
		t.Errorf("%d contacts differ", diffs)
	}
	cleanDeals, gotDeals := storeDeals(t, filepath.Join(cleanDir, "clvsync.db")), storeDeals(t, filepath.Join(dir, "clvsync.db"))
	if len(cleanDeals) != len(gotDeals) {
		t.Errorf("store holds %d customers after crashes, %d after a clean run", len(gotDeals), len(cleanDeals))
	}
	for id, d := range cleanDeals {
		if !slices.Equal(gotDeals[id], d) {
			t.Errorf("customer %s deals after crashes %v, clean %v (a deal lost or counted twice)", id, gotDeals[id], d)
			break
		}
	}
	t.Logf("%d kills; clean run used %d requests, crashed sequence %d", kills, cleanCalls, hub.count.Load())
}
