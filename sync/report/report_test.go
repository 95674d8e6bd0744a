package report_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/clvsync/clvsync/clv"
	"github.com/clvsync/clvsync/state"
	hsync "github.com/clvsync/clvsync/sync"
	"github.com/clvsync/clvsync/sync/config"
	"github.com/clvsync/clvsync/sync/report"
	"github.com/clvsync/clvsync/sync/synctest"
)

// reportState runs the real job twice against fakehub (seed 1), 30 days
// apart, and returns the store, the config and the second run's summary.
func reportState(t testing.TB, contacts int) (*state.Store, config.Config, hsync.Summary) {
	t.Helper()
	e := synctest.New(t, contacts, 1, func(cfg *config.Config) {
		cfg.Model.Margin, cfg.Model.CostPerOrder, cfg.Companies = 0.4, "15", true
	})
	return e.Store, e.Config, e.RunMonthly(t, 2)
}

func TestBuildReport(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole job twice")
	}
	store, cfg, rep := reportState(t, 500)
	d, err := report.Build(context.Background(), store, cfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if d.Customers != rep.Customers || d.Customers == 0 {
		t.Fatalf("report has %d customers, the run computed %d", d.Customers, rep.Customers)
	}
	if d.Model != rep.Model {
		t.Errorf("model = %q, run used %q", d.Model, rep.Model)
	}

	// Every sum ties back to the values the engine stored per contact.
	var sum = map[string]decimal.Decimal{}
	var totalCLV decimal.Decimal
	tierCount := map[string]int{}
	err = store.ForEachResult(func(r state.Result) error {
		for _, k := range []string{"historical_revenue", "historical", "predicted", "predicted_revenue", "total"} {
			sum[k] = sum[k].Add(decimal.RequireFromString(r.Values[k]))
		}
		totalCLV = totalCLV.Add(r.CLV)
		tierCount[r.Tier]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, got := range map[string]decimal.Decimal{
		"historical_revenue": d.Headline.HistoricalRevenue.Sum, "historical": d.Headline.Historical.Sum,
		"predicted": d.Headline.Predicted.Sum, "predicted_revenue": d.Headline.PredictedRevenue.Sum, "total": d.Headline.Total.Sum,
	} {
		if !got.Equal(sum[k]) {
			t.Errorf("headline %s = %s, stored values sum to %s", k, got, sum[k])
		}
	}
	// Rounded values stay within half a rounding step per customer of the
	// engine's full-precision CLV.
	if diff := d.Headline.Total.Sum.Sub(totalCLV).Abs(); diff.GreaterThan(decimal.NewFromFloat(0.5 * float64(d.Customers))) {
		t.Errorf("total %s is %s away from the engine's CLV sum %s", d.Headline.Total.Sum, diff, totalCLV)
	}

	t.Run("tiers add up", func(t *testing.T) {
		var value decimal.Decimal
		n, shares := 0, 0.0
		for _, tr := range d.Tiers {
			value = value.Add(tr.Value)
			n += tr.Customers
			shares += tr.ValueShare
			if tr.Customers != tierCount[tr.Name] {
				t.Errorf("tier %s: %d customers, results say %d", tr.Name, tr.Customers, tierCount[tr.Name])
			}
		}
		if !value.Equal(d.Headline.Total.Sum) || n != d.Customers {
			t.Errorf("tiers hold %s over %d customers, want %s over %d", value, n, d.Headline.Total.Sum, d.Customers)
		}
		if shares < 0.9999 || shares > 1.0001 {
			t.Errorf("tier value shares add up to %v", shares)
		}
		if d.Tiers[0].ValueShare <= d.Tiers[0].CustomerShare {
			t.Errorf("top tier holds %v of value with %v of customers", d.Tiers[0].ValueShare, d.Tiers[0].CustomerShare)
		}
		if len(d.Distribution.Values) != d.Customers || len(d.Distribution.Bounds) != len(cfg.Segments.Tiers.Names)-1 {
			t.Errorf("distribution: %d values, %d bounds", len(d.Distribution.Values), len(d.Distribution.Bounds))
		}
	})

	t.Run("segments, RFM grid and quadrant cover every customer", func(t *testing.T) {
		n := 0
		var value decimal.Decimal
		for _, s := range d.Segments {
			n += s.Customers
			value = value.Add(s.Value)
		}
		if n != d.Customers || !value.Equal(d.Headline.Total.Sum) {
			t.Errorf("segments: %d customers, %s value", n, value)
		}
		grid := 0
		for _, row := range d.RFM.Cells {
			for _, c := range row {
				grid += c.Customers
			}
		}
		if grid != d.Customers {
			t.Errorf("RFM grid holds %d customers, want %d", grid, d.Customers)
		}
		q := 0
		for _, c := range d.Quadrant.Cells {
			q += c.Customers
		}
		if q != d.Customers || len(d.Quadrant.Points) == 0 {
			t.Errorf("quadrant holds %d customers (%d points), want %d", q, len(d.Quadrant.Points), d.Customers)
		}
	})

	t.Run("acquisition cost", func(t *testing.T) {
		a := d.Acquisition
		if a.Overall.NewCustomers == 0 || a.Overall.AvgCLV.IsZero() {
			t.Fatalf("no new customers: %+v", a.Overall)
		}
		n := 0
		for _, r := range a.BySource {
			n += r.NewCustomers
		}
		if n != a.Overall.NewCustomers || len(a.BySource) < 2 {
			t.Errorf("sources hold %d of %d new customers (%d sources)", n, a.Overall.NewCustomers, len(a.BySource))
		}
		want := a.Overall.BreakEven.DivRound(decimal.NewFromFloat(cfg.Reports.TargetCLVToCAC), 2)
		if !a.Overall.BreakEven.Equal(a.Overall.AvgCLV) || !a.Overall.AtTarget.Equal(want) {
			t.Errorf("break-even %s, at target %s; want %s and %s", a.Overall.BreakEven, a.Overall.AtTarget, a.Overall.AvgCLV, want)
		}
	})

	t.Run("movement", func(t *testing.T) {
		m := d.Movement
		if m.Compared+m.New != d.Customers || m.Compared == 0 {
			t.Fatalf("compared %d + new %d != %d", m.Compared, m.New, d.Customers)
		}
		n, moved := 0, 0
		for _, tr := range m.TierMoves {
			n += tr.Customers
			if tr.From != tr.To {
				moved += tr.Customers
			}
		}
		if n != m.Compared {
			t.Errorf("tier transitions cover %d of %d", n, m.Compared)
		}
		segs := m.SegmentsUnchanged
		for _, tr := range m.SegmentMoves {
			segs += tr.Customers
		}
		if segs != m.Compared {
			t.Errorf("segment transitions cover %d of %d", segs, m.Compared)
		}
		for _, f := range m.TurnedFalling {
			r, _, err := store.Result(f.ContactID)
			if err != nil {
				t.Fatal(err)
			}
			if r.Values["trend"] != string(clv.TrendFalling) {
				t.Errorf("contact %s turned falling but its stored trend is %q", f.ContactID, r.Values["trend"])
			}
		}
		t.Logf("tiers moved: %d, segments moved: %d, turned falling: %d", moved, m.Compared-m.SegmentsUnchanged, m.TurnedFallingCount)
	})

	t.Run("backtest", func(t *testing.T) {
		b := d.Backtest
		if b == nil {
			t.Fatalf("no backtest: %s", d.BacktestNote)
		}
		if len(b.Result.Deciles) != 10 || b.Result.Customers == 0 {
			t.Errorf("backtest: %d deciles over %d customers", len(b.Result.Deciles), b.Result.Customers)
		}
	})

	t.Run("cost to serve", func(t *testing.T) {
		c := d.CostToServe
		if len(c.Rows) != 3 {
			t.Fatalf("%d rows", len(c.Rows))
		}
		h := c.Rows[0]
		if !h.Revenue.Equal(d.Headline.HistoricalRevenue.Sum) || !h.Profit.Equal(d.Headline.Historical.Sum) {
			t.Errorf("historical row %+v does not match the headline", h)
		}
		if !c.Rows[2].Profit.Equal(d.Headline.Total.Sum) {
			t.Errorf("total profit %s, headline %s", c.Rows[2].Profit, d.Headline.Total.Sum)
		}
		if !h.AfterMargin.Equal(h.Revenue.Mul(decimal.NewFromFloat(0.4))) || !h.Profit.LessThan(h.AfterMargin) {
			t.Errorf("margin and cost do not reduce revenue: %+v", h)
		}
	})

	t.Run("companies", func(t *testing.T) {
		if !d.CompaniesOn || len(d.Companies) == 0 {
			t.Skipf("no companies in the portal (%d)", d.CompaniesTotal)
		}
		for i := 1; i < len(d.Companies); i++ {
			if d.Companies[i].Value.GreaterThan(d.Companies[i-1].Value) {
				t.Errorf("companies not sorted by value at %d", i)
			}
		}
		// Each row is the company's own value as written (its deals
		// once), not the sum over its contacts.
		for _, row := range d.Companies {
			r, ok, err := store.CompanyUnit().Result(row.ID)
			if err != nil || !ok {
				t.Fatalf("company %s: no own result (%v)", row.ID, err)
			}
			if !row.Own || !row.Value.Equal(decimal.RequireFromString(r.Values["total"])) || row.Tier != r.Values["tier"] {
				t.Errorf("company row %+v, its own values: total %s tier %s", row, r.Values["total"], r.Values["tier"])
			}
		}
	})
}

func TestBuildReport_EmptyStore(t *testing.T) {
	store, err := state.Open(filepath.Join(t.TempDir(), "empty.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	d, err := report.Build(context.Background(), store, config.DefaultConfig(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if d.Customers != 0 || d.Backtest != nil || d.BacktestNote == "" {
		t.Errorf("empty store: %d customers, backtest %v, note %q", d.Customers, d.Backtest, d.BacktestNote)
	}
}

// The report puts an 80% range on the predicted total and on each tier's
// value, from the customers' variances (not the sum of their percentiles).
func TestBuildReport_Intervals(t *testing.T) {
	store, cfg, _ := reportState(t, 300)
	d, err := report.Build(context.Background(), store, cfg, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	h := d.Headline
	if !(h.PredictedLow.LessThan(h.Predicted.Sum) && h.Predicted.Sum.LessThan(h.PredictedHigh)) {
		t.Errorf("predicted %s, 80%% range %s - %s", h.Predicted.Sum, h.PredictedLow, h.PredictedHigh)
	}
	for _, r := range d.Tiers {
		if r.Customers > 0 && !(r.ValueLow.LessThanOrEqual(r.Value) && r.Value.LessThanOrEqual(r.ValueHigh) && r.ValueHigh.GreaterThan(r.ValueLow)) {
			t.Errorf("tier %s: value %s, range %s - %s", r.Name, r.Value, r.ValueLow, r.ValueHigh)
		}
	}
}
