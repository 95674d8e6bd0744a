package sync_test

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"runtime/debug"
	"slices"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/clvsync/clvsync/clv"
	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/hubspot/fakehub"
	"github.com/clvsync/clvsync/state"
	hsync "github.com/clvsync/clvsync/sync"
	"github.com/clvsync/clvsync/sync/config"
	"github.com/clvsync/clvsync/sync/report"
)

// computedBy lists, in id order, the customers whose stored result run
// computed.
func computedBy(t *testing.T, st interface {
	ForEachResult(func(state.Result) error) error
}, run uint64) []string {
	t.Helper()
	var ids []string
	if err := st.ForEachResult(func(r state.Result) error {
		if r.RunID == run {
			ids = append(ids, r.ContactID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ids
}

// A run computes only the customers whose orders changed since every
// customer was last computed that day; the next day, or after a refit or a
// config change, it computes everyone again (time moves every prediction).
func TestRunner_ComputesOnlyWhatChanged(t *testing.T) {
	e := setup(t, 400, func(c *config.Config) { c.Companies = true })
	first := e.run(t, hsync.RunOptions{})
	everyone := len(computedBy(t, e.store, first.RunID))
	if everyone != first.Customers || everyone == 0 {
		t.Fatalf("full run computed %d, reports %d customers", everyone, first.Customers)
	}

	// Nothing changed, an hour later: nothing is computed again, nor is
	// any stored result read for the write-back, and the run still
	// accounts for every customer.
	e.runner.Clock = func() time.Time { return anchor.Add(time.Hour) }
	scans := &scanCounter{wrapped: wrapped{e.runner.Store}}
	e.runner.Store = scans
	quiet := e.run(t, hsync.RunOptions{})
	e.runner.Store = scans.Store
	if scans.n != 0 {
		t.Errorf("run with nothing changed scanned every stored result %d times, want 0", scans.n)
	}
	if got := computedBy(t, e.store, quiet.RunID); len(got) != 0 {
		t.Errorf("run with nothing changed computed %d customers, want 0", len(got))
	}
	if quiet.Customers != first.Customers || !quiet.Value.Total.Equal(first.Value.Total) || quiet.Computed != 0 {
		t.Errorf("run with nothing changed: %d customers, CLV %s, computed %d; want %d, %s, 0",
			quiet.Customers, quiet.Value.Total, quiet.Computed, first.Customers, first.Value.Total)
	}

	// One deal of one contact changes: that contact (and the deal's
	// company) is computed, nobody else, and the totals move by its change.
	id, deal := soleCustomer(t, e.store)
	before := written(t, e.store, id)
	amount := deal.Amount.Decimal.Mul(decimal.NewFromInt(3)).StringFixed(2)
	if _, err := e.client.Deals.Update(context.Background(), deal.ID, map[string]string{"amount": amount}); err != nil {
		t.Fatal(err)
	}
	e.runner.Clock = func() time.Time { return anchor.Add(2 * time.Hour) }
	// Its computation shows on the progress, as a full one does.
	var computeProgress []int
	e.runner.Progress = func(phase string, done, total int) {
		if phase == "compute" {
			computeProgress = append(computeProgress, done, total)
		}
	}
	one := e.run(t, hsync.RunOptions{})
	e.runner.Progress = nil
	if got := computedBy(t, e.store, one.RunID); !slices.Equal(got, []string{id}) || one.Computed != 1 {
		t.Errorf("after one deal of %s changed, computed %d customers %.80v (reported %d), want [%s]", id, len(got), got, one.Computed, id)
	}
	if n := len(computeProgress); n < 2 || computeProgress[n-2] != computeProgress[n-1] || computeProgress[n-1] < 1 {
		t.Errorf("compute progress of the incremental run (done, total pairs): %v, want it to end done", computeProgress)
	}
	after := written(t, e.store, id)
	if after["historical_revenue"] == before["historical_revenue"] {
		t.Errorf("historical revenue of %s unchanged after its deal tripled", id)
	}
	move := money(t, after["total"]).Sub(money(t, before["total"]))
	if want := first.Value.Total.Add(move); !one.Value.Total.Equal(want) || one.Customers != first.Customers {
		t.Errorf("portfolio CLV after the change %s (%d customers), want %s + %s = %s (%d)",
			one.Value.Total, one.Customers, first.Value.Total, move, want, first.Customers)
	}
	co := deal.PrimaryCompanyID
	if co == "" && len(deal.CompanyIDs) > 0 {
		co = deal.CompanyIDs[0]
	}
	if co != "" {
		if got := computedBy(t, e.store.CompanyUnit(), one.RunID); !slices.Equal(got, []string{co}) {
			t.Errorf("companies computed after the change: %d %.80v, want the deal's company [%s]", len(got), got, co)
		}
	}

	// The report still counts every company with its own values, not just
	// the one this run computed.
	d, err := report.Build(context.Background(), e.store, e.cfg, anchor.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if d.CompaniesTotal != first.Companies.Customers {
		t.Errorf("report lists %d companies after an incremental run, want all %d", d.CompaniesTotal, first.Companies.Customers)
	}

	// The run after it has nothing new: the deal its search overlap reads
	// again is stored unchanged, which marks nobody.
	e.runner.Clock = func() time.Time { return anchor.Add(3 * time.Hour) }
	if again := e.run(t, hsync.RunOptions{}); again.Computed != 0 {
		t.Errorf("run after the change's run computed %d customers, want 0", again.Computed)
	}

	// The next day everyone is computed again.
	e.runner.Clock = func() time.Time { return anchor.Add(26 * time.Hour) }
	next := e.run(t, hsync.RunOptions{})
	if got := len(computedBy(t, e.store, next.RunID)); got != next.Customers || next.Computed != next.Customers {
		t.Errorf("next day computed %d (reported %d) of %d customers, want all", got, next.Computed, next.Customers)
	}
}

// scanCounter counts the scans of every stored result with what was
// written.
type scanCounter struct {
	wrapped
	n int
}

// wrapped is the store a test double wraps, with the company unit the
// runner asks the store for.
type wrapped struct{ hsync.Store }

func (w wrapped) CompanyUnit() *state.Store {
	return w.Store.(interface{ CompanyUnit() *state.Store }).CompanyUnit()
}

func (s *scanCounter) ForEachResultWritten(fn func(state.Result, state.Written, bool) error) error {
	s.n++
	return s.Store.ForEachResultWritten(fn)
}

func money(t *testing.T, s string) decimal.Decimal {
	t.Helper()
	d, err := decimal.NewFromString(s)
	if err != nil {
		t.Fatalf("money %q: %v", s, err)
	}
	return d
}

// computeAll never holds every customer: it ranks them on scales of float
// keys. Every stored tier must still be the one ranking all customers at
// once (clv.AssignTiers) gives.
func TestRunner_FullComputationRanksAsOne(t *testing.T) {
	e := setup(t, 400, func(c *config.Config) { c.Segments.Tiers.Basis = "total" })
	rep := e.run(t, hsync.RunOptions{})
	var in []clv.TierInput
	got := map[string]string{}
	if err := e.store.ForEachResult(func(r state.Result) error {
		if r.RunID == rep.RunID {
			in = append(in, clv.TierInput{ID: r.ContactID, Value: r.CLV})
			got[r.ContactID] = r.Tier
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want, err := clv.AssignTiers(in, e.cfg.CLVTiers())
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != rep.Customers {
		t.Fatalf("%d results, %d customers", len(want), rep.Customers)
	}
	differ := 0
	for _, w := range want {
		if got[w.ID] != w.Tier {
			differ++
			t.Logf("%s: tier %q, ranking everyone gives %q", w.ID, got[w.ID], w.Tier)
		}
	}
	if differ > 0 {
		t.Errorf("%d of %d customers' tiers differ from ranking everyone at once", differ, len(want))
	}
}

// PullGCPercent holds only while the run pulls, ComputeGCPercent only
// while a full computation fits, ranks and stores its customers; the rest of the
// run collects as the process was set to.
func TestRunner_GCPercentsAreRestored(t *testing.T) {
	e := setup(t, 100, nil)
	type seen struct {
		phase   string
		percent int
	}
	var during []seen
	var pullLimits []int64
	e.runner.PullGCPercent, e.runner.ComputeGCPercent = 300, 25
	e.runner.Progress = func(phase string, _, _ int) {
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		if len(during) == 0 || during[len(during)-1] != (seen{phase, p}) {
			during = append(during, seen{phase, p})
		}
		if phase == "pull" {
			pullLimits = append(pullLimits, debug.SetMemoryLimit(-1))
		}
	}
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	e.run(t, hsync.RunOptions{})
	after := debug.SetGCPercent(before)
	if after != 100 || !slices.Contains(during, seen{"pull", 300}) || !slices.Contains(during, seen{"compute", 25}) ||
		!slices.Contains(during, seen{"write", 100}) || during[len(during)-1].percent != 100 {
		t.Errorf("GC percent seen during the run %v, after it %d; want 300 while pulling, 25 in the computation, then 100", during, after)
	}
	// The listing's GOGC 300 is bounded by a soft memory limit, lifted
	// after it.
	if len(pullLimits) == 0 || pullLimits[0] == math.MaxInt64 || debug.SetMemoryLimit(-1) != math.MaxInt64 {
		t.Errorf("memory limits seen while pulling %v, after the run %d; want one while pulling, none after", pullLimits, debug.SetMemoryLimit(-1))
	}

	// An incremental run computes its changed customers at the same target.
	_, deal := soleCustomer(t, e.store)
	amount := deal.Amount.Decimal.Mul(decimal.NewFromInt(2)).StringFixed(2)
	if _, err := e.client.Deals.Update(context.Background(), deal.ID, map[string]string{"amount": amount}); err != nil {
		t.Fatal(err)
	}
	e.runner.Clock = func() time.Time { return anchor.Add(time.Hour) }
	during = nil
	debug.SetGCPercent(100)
	// The incremental run's Go memory is bounded to a little above where it
	// began (a larger portal's runs kept up to 12 MB of freed heap), from
	// its pull to its write-back.
	limits := map[string]int64{}
	e.runner.Progress = func(phase string, _, _ int) {
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		if len(during) == 0 || during[len(during)-1] != (seen{phase, p}) {
			during = append(during, seen{phase, p})
		}
		limits[phase] = max(limits[phase], debug.SetMemoryLimit(-1))
	}
	if rep := e.run(t, hsync.RunOptions{}); rep.Computed != 1 {
		t.Fatalf("incremental run computed %d customers, want 1", rep.Computed)
	}
	after = debug.SetGCPercent(before)
	if after != 100 || !slices.Contains(during, seen{"compute", 25}) || slices.Contains(during, seen{"compute", 100}) {
		t.Errorf("GC percent seen during the incremental run %v, after it %d; want 25 in the computation, then 100", during, after)
	}
	for _, ph := range []string{"pull", "compute", "write"} {
		if l, ok := limits[ph]; !ok || l == math.MaxInt64 {
			t.Errorf("memory limit while the incremental run's %s phase reported progress: %d (seen %v), want one", ph, l, ok)
		}
	}
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		t.Errorf("memory limit after the incremental run %d, want none", l)
	}

	// The day's first run computes everyone: no bound while it does.
	e.runner.Clock = func() time.Time { return anchor.Add(26 * time.Hour) }
	limits = map[string]int64{}
	if rep := e.run(t, hsync.RunOptions{}); rep.Computed != rep.Customers {
		t.Fatalf("next day's run computed %d of %d", rep.Computed, rep.Customers)
	}
	if l := limits["compute"]; l != math.MaxInt64 {
		t.Errorf("memory limit while the day's first run computed everyone: %d, want none", l)
	}
}

// A customer whose values were never accepted by HubSpot (a portal rule
// refuses them: retried every run) and who then loses its only order leaves
// the portfolio once: the runs after it keep the same total, however often
// the retry computes it again.
func TestRunner_LostCustomerLeavesTheTotalOnce(t *testing.T) {
	ctx := context.Background()
	e := setup(t, 400, nil)
	c, err := e.client.Contacts.Create(ctx, map[string]string{"email": "refused.buyer@example.com", "firstname": "Refused"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	deal, err := e.client.Deals.Create(ctx, map[string]string{
		"dealname": "order", "amount": "800.00", "dealstage": "closedwon", "pipeline": "default",
		"closedate": anchor.Add(-30 * 24 * time.Hour).Format(time.RFC3339), "deal_currency_code": "USD",
	}, []hubspot.AssociationInput{{ToID: c.ID, Types: []hubspot.AssociationSpec{{Category: "HUBSPOT_DEFINED", TypeID: 3}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.hub.SetFaults(fakehub.Faults{RejectIDs: []string{c.ID}}); err != nil {
		t.Fatal(err)
	}
	first, _ := e.runner.Run(ctx, hsync.RunOptions{}) // partial: the refused contact
	res, ok, err := e.store.Result(c.ID)
	if err != nil || !ok {
		t.Fatalf("result of the refused contact %s: %v %v", c.ID, ok, err)
	}
	if fs, _ := e.store.Failures(); len(fs) != 1 {
		t.Fatalf("failures after the refused write: %v", fs)
	}
	own := money(t, res.Values["total"])

	if err := e.client.Deals.Archive(ctx, deal.ID); err != nil {
		t.Fatal(err)
	}
	want := first.Value.Total.Sub(own)
	for i, at := range []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour} {
		e.runner.Clock = func() time.Time { return anchor.Add(at) }
		rep, _ := e.runner.Run(ctx, hsync.RunOptions{})
		if rep.Mode != "incremental" {
			t.Fatalf("run %d: mode %s", i+1, rep.Mode)
		}
		if !rep.Value.Total.Equal(want) || rep.Customers != first.Customers-1 {
			t.Errorf("run %d after the refused customer lost its order: CLV %s, %d customers; want %s - %s = %s, %d",
				i+1, rep.Value.Total, rep.Customers, first.Value.Total, own, want, first.Customers-1)
		}
	}
}

// A run killed between the parts computeChanged stores leaves totals that
// match the stored results: the next run, computing the same customers
// again, reports the sum of every customer's stored total.
func TestRunner_ComputeKilledBetweenPartsKeepsTotals(t *testing.T) {
	ctx := context.Background()
	hsync.SetChangedChunk(t, 2)
	e := setup(t, 400, nil)
	first := e.run(t, hsync.RunOptions{})
	cs := customers(t, e.store)
	ids := make([]string, 0, len(cs))
	for id := range cs {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	changed := 0
	for _, id := range ids {
		d := cs[id][0]
		if len(d.ContactIDs) != 1 || changed == 7 {
			continue
		}
		amount := d.Amount.Decimal.Mul(decimal.NewFromInt(2)).Add(decimal.NewFromInt(100)).StringFixed(2)
		if _, err := e.client.Deals.Update(ctx, d.ID, map[string]string{"amount": amount}); err != nil {
			t.Fatal(err)
		}
		changed++
	}
	e.runner.Clock = func() time.Time { return anchor.Add(time.Hour) }
	killed := &killAfter{wrapped: wrapped{e.runner.Store}, parts: 2}
	e.runner.Store = killed
	if _, err := e.runner.Run(ctx, hsync.RunOptions{}); err == nil || killed.stored != 2 {
		t.Fatalf("run killed at its third part: err %v after %d parts stored", err, killed.stored)
	}
	e.runner.Store = killed.Store

	e.runner.Clock = func() time.Time { return anchor.Add(2 * time.Hour) }
	rep := e.run(t, hsync.RunOptions{})
	if rep.Computed < changed {
		t.Fatalf("the run after the kill computed %d customers, want at least the %d changed", rep.Computed, changed)
	}
	sum, n := decimal.Zero, 0
	if err := e.store.ForEachResult(func(r state.Result) error {
		if r.RunID >= first.RunID {
			sum, n = sum.Add(money(t, r.Values["total"])), n+1
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if !rep.Value.Total.Equal(sum) || rep.Customers != n {
		t.Errorf("after a run killed between parts: CLV %s of %d customers, want the stored results' %s of %d",
			rep.Value.Total, rep.Customers, sum, n)
	}
}

// killAfter fails every StoreComputed after the first parts, as a kill
// between two transactions would leave the state file.
type killAfter struct {
	wrapped
	parts, stored int
}

func (k *killAfter) StoreComputed(runID uint64, at time.Time, rs []state.Result, dropped []string, meta map[string]string) error {
	if k.stored == k.parts {
		return errors.New("killed")
	}
	k.stored++
	return k.Store.StoreComputed(runID, at, rs, dropped, meta)
}

// A compute basis kept by the previous release (tier values and totals
// inside it, no keys of their own) still serves the day's later runs;
// unreadable totals or tier values have the run compute everyone instead of
// trusting them.
func TestRunner_BasisOfThePreviousRelease(t *testing.T) {
	ctx := context.Background()
	// The same change on the same portal, once on this release's basis
	// and once on the previous release's: the changed customer gets the
	// same values (its tier placed among the same values), and the totals
	// move by its change.
	change := func(t *testing.T, previous bool) (e *env, first, one hsync.Summary, id string, before, after map[string]string) {
		e = setup(t, 400, nil)
		first = e.run(t, hsync.RunOptions{})
		if previous {
			previousRelease(t, e.store)
		}
		id, deal := soleCustomer(t, e.store)
		before = written(t, e.store, id)
		amount := deal.Amount.Decimal.Mul(decimal.NewFromInt(3)).StringFixed(2)
		if _, err := e.client.Deals.Update(ctx, deal.ID, map[string]string{"amount": amount}); err != nil {
			t.Fatal(err)
		}
		e.runner.Clock = func() time.Time { return anchor.Add(time.Hour) }
		one = e.run(t, hsync.RunOptions{})
		return e, first, one, id, before, written(t, e.store, id)
	}
	_, _, _, _, _, current := change(t, false)
	e, first, one, id, before, after := change(t, true)
	if !maps.Equal(after, current) {
		t.Errorf("customer %s on the previous release's basis got %v, on this release's %v", id, after, current)
	}
	move := money(t, after["total"]).Sub(money(t, before["total"]))
	if want := first.Value.Total.Add(move); one.Computed != 1 || !one.Value.Total.Equal(want) || one.Customers != first.Customers {
		t.Errorf("after the previous release's basis: computed %d, CLV %s of %d customers; want 1, %s of %d",
			one.Computed, one.Value.Total, one.Customers, want, first.Customers)
	}

	for i, key := range []string{"compute_basis.totals", "compute_basis.tiers"} {
		if err := e.store.SetMeta(key, "{"); err != nil {
			t.Fatal(err)
		}
		e.runner.Clock = func() time.Time { return anchor.Add(time.Duration(2+i) * time.Hour) }
		if all := e.run(t, hsync.RunOptions{}); all.Computed != all.Customers {
			t.Errorf("with %s unreadable computed %d of %d customers, want everyone", key, all.Computed, all.Customers)
		}
	}
}

// previousRelease rewrites the contacts' compute basis as the release
// before kept it: the tier values in its JSON, the totals only there.
func previousRelease(t *testing.T, st *state.Store) {
	t.Helper()
	raw, err := st.Meta("compute_basis")
	if err != nil {
		t.Fatal(err)
	}
	var b map[string]any
	if err := json.Unmarshal([]byte(raw), &b); err != nil {
		t.Fatal(err)
	}
	enc, err := st.Meta("compute_basis.tiers")
	if err != nil {
		t.Fatal(err)
	}
	bin, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(bin) == 0 {
		t.Fatalf("tier values %d bytes, %v", len(bin), err)
	}
	values := make([]float64, len(bin)/8)
	for i := range values {
		values[i] = math.Float64frombits(binary.LittleEndian.Uint64(bin[8*i:]))
	}
	b["tiers"] = map[string]any{"values": values}
	delete(b, "tier_values")
	out, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	for key, v := range map[string]string{"compute_basis": string(out), "compute_basis.tiers": "", "compute_basis.totals": ""} {
		if err := st.SetMeta(key, v); err != nil {
			t.Fatal(err)
		}
	}
}

// An incremental run places its customers on the basis's tier values
// where the state file keeps them, without decoding them all (at 300k
// contacts they held 2 MB of every such run's heap), and settling the run
// keeps them.
func TestRunner_ChangedRunKeepsTierValuesEncoded(t *testing.T) {
	e := setup(t, 300, nil)
	first := e.run(t, hsync.RunOptions{})
	decoded, kept, ok := hsync.BasisTierValues(e.runner)
	if !ok || decoded != 0 || kept != first.Customers {
		t.Fatalf("after the full run the basis loads with %d tier values decoded, %d kept (ok %v); want 0 and %d", decoded, kept, ok, first.Customers)
	}
	id, deal := soleCustomer(t, e.store)
	amount := deal.Amount.Decimal.Mul(decimal.NewFromInt(5)).StringFixed(2)
	if _, err := e.client.Deals.Update(context.Background(), deal.ID, map[string]string{"amount": amount}); err != nil {
		t.Fatal(err)
	}
	e.runner.Clock = func() time.Time { return anchor.Add(time.Hour) }
	one := e.run(t, hsync.RunOptions{})
	if one.Computed != 1 {
		t.Fatalf("incremental run computed %d customers, want 1 (%s)", one.Computed, id)
	}
	changed := written(t, e.store, id)
	if _, kept, ok := hsync.BasisTierValues(e.runner); !ok || kept != first.Customers {
		t.Fatalf("after the incremental run the basis keeps %d tier values (ok %v), want %d", kept, ok, first.Customers)
	}
	if changed["clv_tier"] == "" && changed["tier"] == "" {
		t.Errorf("%s has no tier after the incremental run: %v", id, changed)
	}
}
