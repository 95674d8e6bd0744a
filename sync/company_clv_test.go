package sync_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/hubspot/fakehub"
	"github.com/clvsync/clvsync/state"
	hsync "github.com/clvsync/clvsync/sync"
	"github.com/clvsync/clvsync/sync/config"
)

// companyValues reads the clv outputs HubSpot holds for the given companies.
func companyValues(t testing.TB, e *env, ids []string) map[string]map[string]string {
	t.Helper()
	var props []string
	for _, def := range config.OutputDefs() {
		if p := e.cfg.Property(def.Key); p != "" {
			props = append(props, p)
		}
	}
	out := map[string]map[string]string{}
	for chunk := range slices.Chunk(ids, hubspot.MaxBatchSize) {
		objs, err := e.client.Companies.BatchRead(context.Background(), chunk, props)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			out[o.ID] = o.Properties
		}
	}
	return out
}

// buyingCompanies returns the stored companies with won deals, each with
// its stored contacts that have deals of their own.
func buyingCompanies(t testing.TB, e *env) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := e.store.ForEachCustomer(func(c state.Contact, deals []state.Deal) error {
		if c.CompanyID == "" {
			return nil
		}
		if _, ok, err := e.store.Company(c.CompanyID); err != nil || !ok {
			return err
		}
		out[c.CompanyID] = append(out[c.CompanyID], c.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// wonOrders counts the won deals closed by asOf and sums their home amounts:
// a company's orders, each deal once however many of its contacts it lists.
func wonOrders(deals []state.Deal, asOf time.Time) (int, decimal.Decimal) {
	n, sum := 0, decimal.Zero
	for _, d := range deals {
		if d.Won && !d.CloseDate.IsZero() && !d.CloseDate.After(asOf) && d.HomeAmount.Valid {
			n++
			sum = sum.Add(d.HomeAmount.Decimal)
		}
	}
	return n, sum
}

// Issue 16, B2B: with companies on, a company is a customer of its own. Its
// deals are its orders, counted once even when several of its contacts are
// on a deal; it gets the contacts' outputs under the same names, written to
// company properties in the clv group, a tier among companies, and the same
// damping (a second run writes nothing).
func TestRunner_CompanyIsACustomerUnit(t *testing.T) {
	e := setup(t, 400, withCompanies(true))
	ctx := context.Background()
	first := e.run(t, hsync.RunOptions{})

	props, err := e.client.Properties.List(ctx, "companies", false)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(props, func(p hubspot.Property) bool { return p.Name == e.cfg.Property(config.OutTotal) })
	if i < 0 {
		t.Fatalf("no company property %s after a run with companies on", e.cfg.Property(config.OutTotal))
	}
	if props[i].GroupName != e.cfg.Outputs.Group {
		t.Errorf("company property %s is in group %q, want %q", props[i].Name, props[i].GroupName, e.cfg.Outputs.Group)
	}

	buying := buyingCompanies(t, e)
	var ids []string
	for id := range buying {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	got := companyValues(t, e, ids)
	asOf := e.runner.Clock()
	tiers := map[string]int{}
	withOrders := 0
	for _, id := range ids {
		deals, err := e.store.DealsOfCompany(id)
		if err != nil {
			t.Fatal(err)
		}
		n, revenue := wonOrders(deals, asOf)
		v := got[id]
		if n == 0 {
			continue
		}
		withOrders++
		if v[e.cfg.Property(config.OutOrders)] != strconv.Itoa(n) {
			t.Errorf("company %s: clv_orders %q, its won deals %d", id, v[e.cfg.Property(config.OutOrders)], n)
		}
		if hv, err := decimal.NewFromString(v[e.cfg.Property(config.OutHistoricalRevenue)]); err != nil || !hv.Sub(revenue).Abs().LessThan(decimal.NewFromInt(1)) {
			t.Errorf("company %s: historical revenue %q, its won deals sum to %s", id, v[e.cfg.Property(config.OutHistoricalRevenue)], revenue)
		}
		for _, key := range []config.OutputKey{config.OutTotal, config.OutPredicted, config.OutChurnRisk, config.OutRFMSegment, config.OutConfidence} {
			if v[e.cfg.Property(key)] == "" {
				t.Errorf("company %s: %s not written", id, key)
			}
		}
		tiers[v[e.cfg.Property(config.OutTier)]]++
	}
	if withOrders < 20 {
		t.Fatalf("only %d buying companies in the portal", withOrders)
	}
	names := e.cfg.Segments.Tiers.Names
	if top := tiers[names[0]]; top == 0 || top > withOrders/2 || tiers[names[len(names)-1]] == 0 {
		t.Errorf("tiers among %d companies: %v", withOrders, tiers)
	}
	if first.Companies == nil || first.Companies.Written != withOrders {
		t.Errorf("run summary of companies: %+v, want %d written", first.Companies, withOrders)
	}

	// One deal on two contacts of the same company, and on the company:
	// each contact counts it, the company once.
	var company string
	var pair []string
	for _, id := range ids {
		if len(buying[id]) >= 2 {
			company, pair = id, buying[id][:2]
			break
		}
	}
	if company == "" {
		t.Fatal("no company with two buying contacts")
	}
	before := got[company]
	e.runner.Clock = func() time.Time { return asOf.Add(time.Hour) }
	if _, err := e.client.Deals.Create(ctx, map[string]string{
		"dealname": "joint order", "amount": "1000.00", "dealstage": "closedwon", "pipeline": "default",
		"closedate": asOf.Add(-time.Minute).Format(time.RFC3339), "deal_currency_code": "USD",
	}, []hubspot.AssociationInput{
		{ToID: pair[0], Types: []hubspot.AssociationSpec{{Category: "HUBSPOT_DEFINED", TypeID: 3}}},
		{ToID: pair[1], Types: []hubspot.AssociationSpec{{Category: "HUBSPOT_DEFINED", TypeID: 3}}},
		{ToID: company, Types: []hubspot.AssociationSpec{{Category: "HUBSPOT_DEFINED", TypeID: 5}}},
	}); err != nil {
		t.Fatal(err)
	}
	second := e.run(t, hsync.RunOptions{})
	after := companyValues(t, e, []string{company})[company]
	ob, _ := strconv.Atoi(before[e.cfg.Property(config.OutOrders)])
	oa, _ := strconv.Atoi(after[e.cfg.Property(config.OutOrders)])
	if oa != ob+1 {
		t.Errorf("company %s orders %d -> %d after one deal on two of its contacts, want +1", company, ob, oa)
	}
	rb, _ := decimal.NewFromString(before[e.cfg.Property(config.OutHistoricalRevenue)])
	ra, _ := decimal.NewFromString(after[e.cfg.Property(config.OutHistoricalRevenue)])
	if d := ra.Sub(rb); !d.Equal(decimal.NewFromInt(1000)) {
		t.Errorf("company %s revenue moved by %s, want 1000", company, d)
	}
	if second.Companies == nil || second.Companies.Written < 1 || second.Companies.Written > withOrders/5 {
		t.Errorf("the run after one deal wrote %+v companies", second.Companies)
	}

	// Nothing changed: nothing is written to companies.
	e.runner.Clock = func() time.Time { return asOf.Add(2 * time.Hour) }
	third := e.run(t, hsync.RunOptions{})
	if third.Companies == nil || third.Companies.Written != 0 || third.Companies.Changed != 0 {
		t.Errorf("a run with nothing changed wrote to companies: %+v", third.Companies)
	}
}

// The company pass has the contacts' guards: a broken mapping trips its
// circuit breaker (nothing is written to companies, the run is blocked),
// and a company HubSpot refuses makes the run partial, is kept as a
// company failure and is written by the next run (here the only company
// to write, so the run fails: more than write_back.max_failed_share).
func TestRunner_CompanyPassIsGuarded(t *testing.T) {
	e := setup(t, 400, withCompanies(true))
	ctx := context.Background()
	e.run(t, hsync.RunOptions{})
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range buyingCompanies(t, e) {
			if !yield(id) {
				return
			}
		}
	})
	before := companyValues(t, e, ids)

	r := *e.runner
	r.Config.Model.Margin /= 10 // the margin typo of breakerCases
	r.Clock = func() time.Time { return anchor.Add(2 * time.Hour) }
	rep, err := r.Run(ctx, hsync.RunOptions{})
	if hsync.Outcome(err) != state.OutcomeBlocked {
		t.Fatalf("a margin typo: outcome %s (%v), want blocked", hsync.Outcome(err), err)
	}
	if rep.Companies != nil && rep.Companies.Written > 0 {
		t.Errorf("the blocked run wrote %d companies", rep.Companies.Written)
	}
	// A dry run shows the companies' own breaker.
	rep, err = r.Run(ctx, hsync.RunOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Companies == nil || len(rep.Companies.Breaker.Tripped) == 0 {
		t.Errorf("the companies' breaker would not trip on the margin typo: %+v", rep.Companies)
	}
	after := companyValues(t, e, ids)
	for _, id := range ids {
		if a, b := after[id][e.cfg.Property(config.OutTotal)], before[id][e.cfg.Property(config.OutTotal)]; a != b {
			t.Fatalf("company %s total %s -> %s although every run since was blocked or dry", id, b, a)
		}
	}

	// One company refused: partial, retried next run.
	reject := ids[0]
	if err := e.hub.SetFaults(fakehub.Faults{RejectIDs: []string{reject}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Deals.Create(ctx, map[string]string{
		"dealname": "order", "amount": "500.00", "dealstage": "closedwon", "pipeline": "default",
		"closedate": anchor.Add(2 * time.Hour).Format(time.RFC3339), "deal_currency_code": "USD",
	}, []hubspot.AssociationInput{{ToID: reject, Types: []hubspot.AssociationSpec{{Category: "HUBSPOT_DEFINED", TypeID: 5}}}}); err != nil {
		t.Fatal(err)
	}
	e.runner.Clock = func() time.Time { return anchor.Add(3 * time.Hour) }
	rep, err = e.runner.Run(ctx, hsync.RunOptions{})
	if hsync.Outcome(err) == state.OutcomeOK || !strings.Contains(fmt.Sprint(err), "company writes") {
		t.Fatalf("a refused company write: outcome %s (%v), want partial or failed naming companies", hsync.Outcome(err), err)
	}
	if rep.Companies == nil || rep.Companies.Failed != 1 {
		t.Fatalf("companies failed: %+v", rep.Companies)
	}
	fs, err := e.store.CompanyUnit().Failures()
	if err != nil || len(fs) != 1 || fs[0].ContactID != reject {
		t.Fatalf("company failures %v, %v; want %s", fs, err, reject)
	}
	if cf, _ := e.store.Failures(); len(cf) != 0 {
		t.Errorf("a company failure recorded as a contact's: %v", cf)
	}
	if err := e.hub.SetFaults(fakehub.Faults{}); err != nil {
		t.Fatal(err)
	}
	e.runner.Clock = func() time.Time { return anchor.Add(4 * time.Hour) }
	rep = e.run(t, hsync.RunOptions{})
	if rep.Companies.Written < 1 {
		t.Errorf("the refused company was not written by the next run: %+v", rep.Companies)
	}
	if fs, _ := e.store.CompanyUnit().Failures(); len(fs) != 0 {
		t.Errorf("company failures left after the retry: %v", fs)
	}
}

// A company property of another type than clvsync writes is left out of
// the company writes (the other values are written) and fails the run,
// as on contacts.
func TestRunner_CompanyPropertyOfTheWrongTypeIsLeftOut(t *testing.T) {
	e := setup(t, 300, withCompanies(true))
	ctx := context.Background()
	name := e.cfg.Property(config.OutOrders)
	if _, err := e.client.Properties.Create(ctx, "companies", hubspot.PropertyCreate{
		Name: name, Label: "Orders (text)", Type: "string", FieldType: "text", GroupName: "companyinformation"}); err != nil {
		t.Fatal(err)
	}
	rep, err := e.runner.Run(ctx, hsync.RunOptions{})
	if !errors.Is(err, hsync.ErrOutputsLeftOut) || hsync.Outcome(err) != state.OutcomeFailed {
		t.Fatalf("run: %v (outcome %s), want outputs left out", err, hsync.Outcome(err))
	}
	if rep.Written == 0 || rep.Companies == nil || rep.Companies.Written == 0 || len(rep.Companies.LeftOut) != 1 {
		t.Fatalf("contacts written %d, companies %+v", rep.Written, rep.Companies)
	}
	var ids []string
	for id := range buyingCompanies(t, e) {
		ids = append(ids, id)
	}
	for id, v := range companyValues(t, e, ids) {
		if v[name] != "" {
			t.Errorf("company %s: the left-out %s was written: %q", id, name, v[name])
		}
	}
}
