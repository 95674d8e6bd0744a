package sync_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/clvsync/clvsync/clv"
	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/hubspot/fakehub"
	"github.com/clvsync/clvsync/state"
	hsync "github.com/clvsync/clvsync/sync"
	"github.com/clvsync/clvsync/sync/config"
	"github.com/clvsync/clvsync/sync/synctest"
)

// A panic inside a run is recovered, recorded as failed, and the next run
// goes ahead (measured failure 4 recorded it as ok).
func TestRunner_PanicIsRecordedAsFailed(t *testing.T) {
	e := setup(t, 150, nil)
	e.runner.Progress = func(phase string, done, total int) {
		if phase == "compute" {
			panic("boom")
		}
	}
	_, err := e.runner.Run(context.Background(), hsync.RunOptions{})
	if !errors.Is(err, hsync.ErrPanic) || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("run: %v, want ErrPanic naming the panic", err)
	}
	last, ok, err := e.store.LastRun()
	if err != nil || !ok || last.Outcome != state.OutcomeFailed {
		t.Fatalf("last run %+v ok=%v err=%v, want outcome failed", last, ok, err)
	}
	e.runner.Progress = nil
	if rep := e.run(t, hsync.RunOptions{}); rep.Written == 0 {
		t.Errorf("the run after the panic wrote nothing")
	}
}

// breakerCase is a change the breaker must refuse: a mapping that is valid
// but reads the wrong thing.
type breakerCase struct {
	name   string
	mutate func(*config.Config)
}

var breakerCases = []breakerCase{
	{"amount mapped to the stage probability", func(c *config.Config) { c.Deals.AmountProperty = "hs_deal_stage_probability" }},
	{"margin typo 0.04 for 0.4", func(c *config.Config) { c.Model.Margin /= 10 }},
	{"won stage mapped to closed lost", func(c *config.Config) {
		c.Deals.WonStages = config.WonStages{Stages: []config.StageRef{{Pipeline: "default", Stage: "closedlost"}}}
	}},
}

// The breaker's defaults: 20 ordinary runs a day apart, with the changes a
// sales team makes between them (new won deals, corrected amounts, deleted
// deals, a monthly refit), never trip it; each broken mapping always does.
// The figures are logged (go test -run Breaker -v) and quoted in the
// README.
func TestBreaker_OrdinaryRunsNeverTripBrokenMappingsDo(t *testing.T) {
	if testing.Short() {
		t.Skip("20 runs")
	}
	e := synctest.New(t, 400, 11, nil)
	ctx := context.Background()
	if _, err := e.Runner.Run(ctx, hsync.RunOptions{}); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(11, 12))
	peak := map[string]float64{}
	for i := range 20 {
		e.Now = e.Now.Add(24 * time.Hour)
		ordinaryChanges(t, e, rng)
		rep, err := e.Runner.Run(ctx, hsync.RunOptions{Refit: i == 9})
		if err != nil {
			t.Fatalf("ordinary run %d: %v", i+1, err)
		}
		for _, r := range rep.Breaker.Rules {
			peak[r.Name] = max(peak[r.Name], r.Share)
		}
	}
	t.Logf("ordinary runs, highest share per rule: %s", fmtShares(peak))
	for _, c := range breakerCases {
		cfg := e.Config
		c.mutate(&cfg)
		r := *e.Runner
		r.Config = cfg
		rep, err := r.Run(ctx, hsync.RunOptions{DryRun: true})
		if err != nil {
			t.Fatalf("%s: dry run: %v", c.name, err)
		}
		got := map[string]float64{}
		for _, x := range rep.Breaker.Rules {
			got[x.Name] = x.Share
		}
		t.Logf("%s: %s", c.name, fmtShares(got))
		if len(rep.Breaker.Tripped) == 0 {
			t.Errorf("%s: the breaker would not trip: %s", c.name, fmtShares(got))
		}
	}
}

func fmtShares(m map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}) {
		parts = append(parts, fmt.Sprintf("%s %.1f%%", k, 100*m[k]))
	}
	return strings.Join(parts, ", ")
}

// ordinaryChanges makes one day's changes of a sales team: new won deals
// for 1-3% of customers, a corrected amount, now and then a deleted deal.
func ordinaryChanges(t *testing.T, e *synctest.Env, rng *rand.Rand) {
	t.Helper()
	ctx := context.Background()
	var ids []string
	var deals []state.Deal
	if err := e.Store.ForEachCustomer(func(c state.Contact, ds []state.Deal) error {
		ids = append(ids, c.ID)
		for _, d := range ds {
			if d.Won {
				deals = append(deals, d)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for range 1 + rng.IntN(max(1, len(ids)*3/100)) {
		id := ids[rng.IntN(len(ids))]
		if _, err := e.Client.Deals.Create(ctx, map[string]string{
			"dealname": "renewal", "amount": fmt.Sprintf("%d.00", 100+rng.IntN(900)), "dealstage": "closedwon", "pipeline": "default",
			"closedate": e.Now.Add(-time.Hour).Format(time.RFC3339), "deal_currency_code": "USD",
		}, []hubspot.AssociationInput{{ToID: id, Types: []hubspot.AssociationSpec{{Category: "HUBSPOT_DEFINED", TypeID: 3}}}}); err != nil {
			t.Fatal(err)
		}
	}
	if len(deals) == 0 {
		return
	}
	d := deals[rng.IntN(len(deals))]
	if d.Amount.Valid {
		amount := d.Amount.Decimal.Mul(decimal.NewFromFloat(0.9 + 0.2*rng.Float64())).StringFixed(2)
		if _, err := e.Client.Deals.Update(ctx, d.ID, map[string]string{"amount": amount}); err != nil {
			t.Fatal(err)
		}
	}
	if rng.IntN(3) == 0 {
		if err := e.Client.Deals.Archive(ctx, deals[rng.IntN(len(deals))].ID); err != nil {
			t.Fatal(err)
		}
	}
}

// A one-time buyer long gone is never churn risk low (issue 16: with BG/NBD
// such a customer has P(alive) 1, and 147 of 188 "Lost" contacts were low).
func TestRunner_OneTimeBuyerLongGoneIsNotLowRisk(t *testing.T) {
	e := setup(t, 600, nil)
	e.run(t, hsync.RunOptions{})
	asOf := e.runner.Clock()
	n := 0
	if err := e.store.ForEachWritten(func(w state.Written) error {
		last, err := time.Parse("2006-01-02", w.Values[string(config.OutLastPurchase)])
		if err != nil || w.Values[string(config.OutOrders)] != "1" || asOf.Sub(last) < 2*365*24*time.Hour {
			return nil
		}
		n++
		if risk := w.Values[string(config.OutChurnRisk)]; risk == "low" {
			t.Errorf("contact %s: one order on %s, churn risk %s", w.ContactID, last.Format("2006-01-02"), risk)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("the portal has no one-time buyer older than two years")
	}
	t.Logf("%d one-time buyers older than two years", n)
}

// model.type auto scores the purchase models on a holdout of the portal's
// own history and predicts with the winner, refitted on all data; the
// scorecard is kept with the model and clv_model names the winner.
func TestRunner_AutoModelRunsATournament(t *testing.T) {
	e := setup(t, 400, func(c *config.Config) {
		c.Model.Type = config.ModelAuto
		c.Model.FitBudget = config.Duration(5 * time.Second)
	})
	rep := e.run(t, hsync.RunOptions{})
	m, ok, err := hsync.LoadModel(e.store)
	if err != nil || !ok {
		t.Fatalf("stored model: ok=%v err=%v", ok, err)
	}
	if m.Tournament == nil || len(m.Tournament.Scores) != len(clv.TournamentModels) || m.Tournament.Winner == "" {
		t.Fatalf("tournament %+v", m.Tournament)
	}
	if m.Type != m.Tournament.Winner || rep.Model != m.Type {
		t.Errorf("model %s, summary %s, winner %s", m.Type, rep.Model, m.Tournament.Winner)
	}
	for _, s := range m.Tournament.Scores {
		if s.Error == "" && !(s.MAE > 0) {
			t.Errorf("%s: MAE %v", s.Model, s.MAE)
		}
	}
	if !strings.Contains(rep.FitNote, "winner "+m.Type) {
		t.Errorf("the summary does not show the scorecard: %s", rep.FitNote)
	}
	id, _ := soleCustomer(t, e.store)
	if got := written(t, e.store, id)[string(config.OutModel)]; got != m.Type {
		t.Errorf("clv_model %q, want the winner %q", got, m.Type)
	}
	t.Logf("%s", m.Tournament)
}

// On a portal with more customers than the tournament's sample, the
// tournament scores the models on a sample of them, chosen by a hash of
// their ids (the same customers every refit), and says so; the winner is
// still refitted on every customer.
func TestRunner_TournamentScoresASample(t *testing.T) {
	hsync.SetTournamentSample(t, 100)
	e := setup(t, 400, func(c *config.Config) {
		c.Model.Type = config.ModelAuto
		c.Model.FitBudget = config.Duration(5 * time.Second)
	})
	rep := e.run(t, hsync.RunOptions{})
	m, ok, err := hsync.LoadModel(e.store)
	if err != nil || !ok || m.Tournament == nil {
		t.Fatalf("stored model: ok=%v err=%v", ok, err)
	}
	tm := m.Tournament
	if tm.Customers < 300 || tm.Scored < 40 || tm.Scored > 120 || m.Customers <= tm.Scored {
		t.Errorf("tournament scored %d of %d customers, the fit used %d; want about 100 sampled (those with orders before the calibration end scored), all fitted", tm.Scored, tm.Customers, m.Customers)
	}
	if want := fmt.Sprintf("%d of %d customers", tm.Scored, tm.Customers); !strings.Contains(tm.String(), want) || !strings.Contains(rep.FitNote, want) {
		t.Errorf("scorecard %q does not say it scored %s", tm.String(), want)
	}
	t.Logf("%s", tm)
}

// The regularity model runs end to end: fitted with its k, written as
// clv_model (an option HubSpot must accept), predicted with intervals.
func TestRunner_RegularityModel(t *testing.T) {
	e := setup(t, 300, func(c *config.Config) { c.Model.Type = clv.ModelMBGCNBD })
	rep := e.run(t, hsync.RunOptions{})
	m, ok, err := hsync.LoadModel(e.store)
	if err != nil || !ok || m.Type != clv.ModelMBGCNBD || m.Params["k"] < 1 {
		t.Fatalf("stored model %+v (ok %v, err %v)", m, ok, err)
	}
	if rep.Written == 0 || rep.Failed > 0 {
		t.Fatalf("written %d, failed %d", rep.Written, rep.Failed)
	}
	id, _ := soleCustomer(t, e.store)
	w := written(t, e.store, id)
	if w[string(config.OutModel)] != clv.ModelMBGCNBD || w[string(config.OutPredictedHigh)] == "" {
		t.Errorf("contact %s: model %q, predicted high %q", id, w[string(config.OutModel)], w[string(config.OutPredictedHigh)])
	}
	t.Logf("%s", m.Note())
}

// What Klaviyo users expect on a profile: average order value, average days
// between orders and the expected date of the next order.
func TestRunner_ProfileOutputs(t *testing.T) {
	e := setup(t, 300, nil)
	e.run(t, hsync.RunOptions{})
	id, _ := soleCustomer(t, e.store)
	w := written(t, e.store, id)
	orders, _ := decimal.NewFromString(w[string(config.OutOrders)])
	rev, _ := decimal.NewFromString(w[string(config.OutHistoricalRevenue)])
	aov, err := decimal.NewFromString(w[string(config.OutAvgOrderValue)])
	if err != nil || orders.IsZero() || aov.Sub(rev.Div(orders)).Abs().GreaterThan(decimal.NewFromInt(1)) {
		t.Errorf("avg order value %q, revenue %s over %s orders", w[string(config.OutAvgOrderValue)], rev, orders)
	}
	first, _ := time.Parse("2006-01-02", w[string(config.OutFirstPurchase)])
	last, _ := time.Parse("2006-01-02", w[string(config.OutLastPurchase)])
	gap := last.Sub(first).Hours() / 24 / (orders.InexactFloat64() - 1)
	days, err := decimal.NewFromString(w[string(config.OutAvgDaysBetween)])
	if err != nil || math.Abs(days.InexactFloat64()-gap) > 1 {
		t.Errorf("avg days between orders %q, want about %.1f", w[string(config.OutAvgDaysBetween)], gap)
	}
	next, err := time.Parse("2006-01-02", w[string(config.OutNextOrder)])
	if want := last.Add(time.Duration(gap * 24 * float64(time.Hour))); err != nil || math.Abs(next.Sub(want).Hours()) > 48 {
		t.Errorf("expected next order %q, want about %s", w[string(config.OutNextOrder)], want.Format("2006-01-02"))
	}
}

// Every customer predicted by a purchase model gets an 80% interval around
// its predicted CLV and a confidence band workflows can gate on.
func TestRunner_PredictionIntervals(t *testing.T) {
	e := setup(t, 300, nil)
	e.run(t, hsync.RunOptions{})
	n, bands := 0, map[string]int{}
	if err := e.store.ForEachWritten(func(w state.Written) error {
		pred, err1 := decimal.NewFromString(w.Values[string(config.OutPredicted)])
		lo, err2 := decimal.NewFromString(w.Values[string(config.OutPredictedLow)])
		hi, err3 := decimal.NewFromString(w.Values[string(config.OutPredictedHigh)])
		if err1 != nil || err2 != nil || err3 != nil {
			t.Errorf("contact %s: predicted %q low %q high %q", w.ContactID, w.Values["predicted"], w.Values["predicted_low"], w.Values["predicted_high"])
			return nil
		}
		// Written values are rounded to whole units.
		if lo.GreaterThan(pred.Add(decimal.NewFromInt(1))) || (hi.Add(decimal.NewFromInt(1)).LessThan(pred) && !hi.IsZero()) {
			t.Errorf("contact %s: interval [%s, %s] does not hold the prediction %s", w.ContactID, lo, hi, pred)
		}
		bands[w.Values[string(config.OutConfidence)]]++
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if n == 0 || bands[""] > 0 || len(bands) < 2 {
		t.Errorf("confidence bands over %d contacts: %v", n, bands)
	}
	t.Logf("confidence over %d contacts: %v", n, bands)
}

// The fitted parameters' uncertainty reaches the intervals: the stored
// model keeps their covariance, and each result the share of its spread
// that comes from them (the report adds those across customers).
func TestRunner_IntervalsCarryParameterUncertainty(t *testing.T) {
	e := setup(t, 300, nil)
	e.run(t, hsync.RunOptions{})
	m, ok, err := hsync.LoadModel(e.store)
	if err != nil || !ok || m.Cov == nil || len(m.Cov.Names) != len(m.Cov.Cov) {
		t.Fatalf("stored model %s has no parameter covariance (%v)", m.Type, err)
	}
	withParam := 0
	if err := e.store.ForEachResult(func(r state.Result) error {
		if sd, err := strconv.ParseFloat(r.Values[hsync.ResultPredictedParamSD], 64); err == nil && sd > 0 {
			withParam++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if withParam == 0 {
		t.Errorf("no result carries %s", hsync.ResultPredictedParamSD)
	}
	t.Logf("%s covariance over %v; %d results with a parameter sd", m.Type, m.Cov.Names, withParam)
}

// A whole run completes with 30% of 2xx bodies cut and 20% of connections
// reset (measured before the client retried them: 40 of 40 runs failed),
// and writes what a clean run writes.
func TestRunner_CompletesThroughTruncationsAndResets(t *testing.T) {
	clean := synctest.NewHub(t, fakehub.Config{Contacts: 300, Seed: 5}, lowMinimums(nil))
	want := clean.RunMonthly(t, 1)
	faulty := synctest.NewHub(t, fakehub.Config{Contacts: 300, Seed: 5, Faults: fakehub.Faults{Truncate: 0.3, Reset: 0.2, Seed: 1}}, lowMinimums(nil))
	got, err := faulty.Runner.Run(context.Background(), hsync.RunOptions{})
	if err != nil {
		t.Fatalf("run with 30%% truncated bodies and 20%% resets: %v", err)
	}
	if got.Written != want.Written || got.Customers != want.Customers {
		t.Errorf("faulty run wrote %d of %d customers; clean run %d of %d", got.Written, got.Customers, want.Written, want.Customers)
	}
	t.Logf("faulty run: %d API calls (clean: %d), %d written", got.APICalls, want.APICalls, got.Written)
}
