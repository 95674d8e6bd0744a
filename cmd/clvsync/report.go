package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/clvsync/clvsync/state"
	"github.com/clvsync/clvsync/sync/config"
	"github.com/clvsync/clvsync/sync/report"
)

// runReport prints the terminal summary of the state file and, with --html,
// writes the self-contained HTML report.
func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cf commonFlags
	fs := newFlags("report", stderr, "report --config FILE [--html OUT.html]")
	cf.register(fs)
	htmlOut := fs.String("html", "", "also write the HTML report to this file (self-contained: open it offline or email it)")
	if code, ok := parseArgs(fs, args, stdout); !ok {
		return code
	}
	cfg, err := cf.loadConfig()
	if err != nil {
		return fail(stderr, err)
	}
	data, err := loadReport(ctx, cfg)
	if errors.Is(err, state.ErrLocked) {
		// `clvsync serve` holds the file: ask it for the same report.
		if herr := reportFromServe(ctx, cfg, stdout, *htmlOut); herr != nil {
			return fail(stderr, lockedHint(err, herr))
		}
		return exitOK
	}
	if err != nil {
		return fail(stderr, err)
	}
	printSummary(stdout, data)
	if *htmlOut != "" {
		if err := writeReportFile(*htmlOut, data); err != nil {
			return fail(stderr, err)
		}
		fmt.Fprintf(stdout, "\nHTML report written to %s\n", *htmlOut)
	}
	return exitOK
}

// loadReport opens the state file, builds the report data and closes the
// file again, so the lock is held only while reading.
func loadReport(ctx context.Context, cfg config.Config) (*report.Data, error) {
	if _, err := os.Stat(cfg.State.Path); err != nil {
		return nil, config.Problems{{Key: "state.path", Msg: fmt.Sprintf("%s: %v", cfg.State.Path, err),
			Fix: "run `clvsync run` (or `clvsync demo`) first, or point state.path at an existing state file"}}
	}
	store, err := openStore(cfg)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	data, err := report.Build(ctx, store, cfg, time.Now())
	if err != nil {
		return nil, fmt.Errorf("build report from %s: %w", cfg.State.Path, err)
	}
	return data, nil
}

// writeReportHTML builds the report from an open store and writes it to
// dir/report.html, returning the path. `clvsync demo` calls it after its
// run, with the store it already holds open.
func writeReportHTML(ctx context.Context, store *state.Store, cfg config.Config, dir string) (string, error) {
	data, err := report.Build(ctx, store, cfg, time.Now())
	if err != nil {
		return "", fmt.Errorf("build report: %w", err)
	}
	path := filepath.Join(dir, "report.html")
	return path, writeReportFile(path, data)
}

// writeReportFile renders the HTML report into path, replacing it only once
// it is complete.
func writeReportFile(path string, data *report.Data) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".report-*.html")
	if err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := renderHTML(tmp, data); err != nil {
		tmp.Close()
		return fmt.Errorf("render report: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// printSummary writes the terminal summary: the same sections as the HTML
// report, as text.
func printSummary(w io.Writer, d *report.Data) {
	cur := d.Currency
	h := d.Headline
	fmt.Fprintf(w, "CLV report as of %s (%d customers, model %s)\n", d.AsOf.Format("2006-01-02 15:04 MST"), d.Customers, dashIfEmpty(d.Model))
	if d.FitNote != "" {
		fmt.Fprintf(w, "  fit: %s\n", d.FitNote)
	}
	if d.Customers == 0 {
		fmt.Fprintln(w, "\nNo computed results in the state file yet: run `clvsync run` first.")
		return
	}
	section(w, "Headline")
	fmt.Fprintf(w, "  %-34s %s %s (%s orders)\n", "historical revenue", cur, money(h.HistoricalRevenue.Sum), thousands(int64(h.Orders)))
	fmt.Fprintf(w, "  %-34s %s %s\n", "historical profit", cur, money(h.Historical.Sum))
	fmt.Fprintf(w, "  %-34s %s %s (profit %s)\n", fmt.Sprintf("predicted revenue, next %d months", d.HorizonMonths), cur, money(h.PredictedRevenue.Sum), money(h.Predicted.Sum))
	if h.PredictedHigh.GreaterThan(h.PredictedLow) {
		fmt.Fprintf(w, "  %-34s %s %s - %s (80%% range of the total)\n", "predicted profit, 80% range", cur, money(h.PredictedLow), money(h.PredictedHigh))
	}
	fmt.Fprintf(w, "  %-34s %12s %12s %14s\n", "CLV per customer (profit)", "average", "median", "sum")
	for _, r := range []struct {
		name string
		s    report.Stat
	}{{"historical", h.Historical}, {"predicted", h.Predicted}, {"total", h.Total}} {
		fmt.Fprintf(w, "    %-32s %12s %12s %14s\n", r.name, money(r.s.Mean), money(r.s.Median), money(r.s.Sum))
	}
	fmt.Fprintln(w, "  (figures are the values in HubSpot, as last written)")
	if hb := d.HeldBack; hb.Contacts > 0 {
		fmt.Fprintf(w, "  held back: %d contacts' newest CLV differs from HubSpot's by %s %s in all (changes under write_back.min_change, or refused writes)\n",
			hb.Contacts, cur, money(hb.Total))
	}
	if c := d.LastRun.Counts; c["changed"] > 0 {
		fmt.Fprintf(w, "  last run changed %d contacts: %d by their own orders, %d by a model refit, %d by time passing, %d repaired\n",
			c["changed"], c["changed_by_orders"], c["changed_by_refit"], c["changed_by_time"], c["repaired"])
	}
	if b := d.Backtest; b != nil {
		fmt.Fprintf(w, "  fit quality (%d-week backtest)       purchases predicted %s vs actual %s (%+.1f%%), correlation %.2f\n",
			b.HoldoutWeeks, fixed(b.Result.PredictedPurchases, 0), fixed(b.Result.ActualPurchases, 0), b.Result.AggregateErrorPct, b.Result.Correlation)
	} else if d.BacktestNote != "" {
		fmt.Fprintf(w, "  fit quality: %s\n", d.BacktestNote)
	}

	a := d.Acquisition
	section(w, fmt.Sprintf("Maximum acquisition cost (customers whose first purchase is in the last %d days)", a.WindowDays))
	fmt.Fprintf(w, "  %-24s %8s %14s %14s %14s\n", "source ("+a.SourceProperty+")", "new", "avg CLV", "break-even", fmt.Sprintf("at %s:1", ratio(a.TargetRatio)))
	for _, r := range append([]report.AcquisitionRow{a.Overall}, a.BySource...) {
		note := ""
		if r.Small && r.NewCustomers > 0 {
			note = "  (few customers)"
		}
		fmt.Fprintf(w, "  %-24s %8d %14s %14s %14s%s\n", clip(r.Source, 24), r.NewCustomers, money(r.AvgCLV), money(r.BreakEven), money(r.AtTarget), note)
	}

	section(w, fmt.Sprintf("Tiers (by %s CLV)", d.Distribution.Basis))
	fmt.Fprintf(w, "  %-14s %9s %8s %14s %23s %8s %s\n", "tier", "customers", "share", "value", "80% range of value", "share", "per customer")
	for _, t := range d.Tiers {
		fmt.Fprintf(w, "  %-14s %9d %8s %14s %23s %8s %s - %s\n", clip(t.Name, 14), t.Customers, pct(t.CustomerShare), money(t.Value),
			money(t.ValueLow)+" - "+money(t.ValueHigh), pct(t.ValueShare), money(t.Min), money(t.Max))
	}
	fmt.Fprintf(w, "  the top 20%% of customers hold %s of the value\n", pct(d.TopFifthShare))

	section(w, "RFM segments")
	fmt.Fprintf(w, "  %-20s %9s %8s %14s %12s %8s\n", "segment", "customers", "share", "total CLV", "average", "share")
	for _, s := range d.Segments {
		fmt.Fprintf(w, "  %-20s %9d %8s %14s %12s %8s\n", clip(s.Name, 20), s.Customers, pct(s.CustomerShare), money(s.Value), money(s.AvgValue), pct(s.ValueShare))
	}
	fmt.Fprintln(w, "  average revenue by recency (rows, 5 = recent) x frequency (columns, 5 = most orders):")
	fmt.Fprintf(w, "       %10s %10s %10s %10s %10s\n", "F1", "F2", "F3", "F4", "F5")
	for r := 5; r >= 1; r-- {
		fmt.Fprintf(w, "    R%d", r)
		for f := 1; f <= 5; f++ {
			c := d.RFM.Cells[r-1][f-1]
			if c.Customers == 0 {
				fmt.Fprintf(w, " %10s", "-")
				continue
			}
			fmt.Fprintf(w, " %10s", money(c.AvgRevenue))
		}
		fmt.Fprintln(w)
	}

	q := d.Quadrant
	section(w, fmt.Sprintf("Quadrant (CLV threshold %s, relationship threshold %.1f months)", money(q.CLVThreshold), q.MonthsThreshold))
	for _, c := range q.Cells {
		fmt.Fprintf(w, "  %-22s %-24s %7d customers  %14s\n", c.Name, quadrantLabel(c.High, c.Long), c.Customers, money(c.Value))
	}

	m := d.Movement
	section(w, "Movement since the previous run")
	if m.Compared == 0 {
		fmt.Fprintln(w, "  only one run so far: movement shows from the next run on")
	} else {
		fmt.Fprintf(w, "  %d customers compared with %s, %d new\n", m.Compared, m.Previous.Format("2006-01-02 15:04"), m.New)
		fmt.Fprintln(w, "  tier transitions:")
		for _, t := range m.TierMoves {
			fmt.Fprintf(w, "    %-14s -> %-14s %7d\n", t.From, t.To, t.Customers)
		}
		fmt.Fprintf(w, "  segment changes: %d customers changed segment, %d kept theirs\n", sumMoves(m.SegmentMoves), m.SegmentsUnchanged)
		for i, t := range m.SegmentMoves {
			if i == 10 {
				fmt.Fprintf(w, "    ... and %d more kinds of move\n", len(m.SegmentMoves)-10)
				break
			}
			fmt.Fprintf(w, "    %-20s -> %-20s %7d\n", t.From, t.To, t.Customers)
		}
		fmt.Fprintf(w, "  CLV trend turned falling: %d customers\n", m.TurnedFallingCount)
		for i, f := range m.TurnedFalling {
			if i == 10 {
				break
			}
			fmt.Fprintf(w, "    contact %-12s %-24s %s -> %s (%+.1f%%)\n", f.ContactID, clip(f.Name, 24), money(f.Baseline), money(f.CLV), f.ChangePct)
		}
	}

	if b := d.Backtest; b != nil {
		section(w, fmt.Sprintf("Model quality: %s backtest, calibrated to %s, %d-week holdout", b.Model, b.CalibrationEnd.Format("2006-01-02"), b.HoldoutWeeks))
		fmt.Fprintf(w, "  %-7s %9s %14s %14s\n", "decile", "customers", "predicted", "actual")
		for _, dc := range b.Result.Deciles {
			fmt.Fprintf(w, "  %-7d %9d %14s %14s\n", dc.Decile, dc.Customers, fixed(dc.PredictedPurchases, 1), fixed(dc.ActualPurchases, 0))
		}
	}

	if d.CompaniesOn {
		section(w, fmt.Sprintf("CLV by company (top %d of %d)", len(d.Companies), d.CompaniesTotal))
		for _, c := range d.Companies {
			fmt.Fprintf(w, "  %-30s %4d contacts %14s  %s\n", clip(dashIfEmpty(c.Name), 30), c.Contacts, money(c.Value), strings.TrimSpace(c.Tier+" "+c.ChurnRisk))
		}
	}

	c := d.CostToServe
	section(w, fmt.Sprintf("Cost to serve (margin %s, cost per order %s %s)", pct(c.Margin), cur, money2(c.CostPerOrder)))
	fmt.Fprintf(w, "  %-28s %14s %14s %14s\n", "", "revenue", "after margin", "profit (CLV)")
	for _, r := range c.Rows {
		fmt.Fprintf(w, "  %-28s %14s %14s %14s\n", r.Name, money(r.Revenue), money(r.AfterMargin), money(r.Profit))
	}
}

func section(w io.Writer, title string) {
	fmt.Fprintf(w, "\n%s\n", title)
}

func sumMoves(ts []report.Transition) int {
	n := 0
	for _, t := range ts {
		n += t.Customers
	}
	return n
}

func quadrantLabel(high, long bool) string {
	v, l := "low CLV", "short relationship"
	if high {
		v = "high CLV"
	}
	if long {
		l = "long relationship"
	}
	return v + ", " + l
}

// dashIfEmpty returns s, or "-" when s is empty.
func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// money formats an amount in whole units with thousands separators
// (half away from zero): 1234567.5 -> "1,234,568".
func money(d decimal.Decimal) string {
	return groupDigits(d.StringFixed(0))
}

// money2 formats an amount with cents and thousands separators.
func money2(d decimal.Decimal) string {
	return groupDigits(d.StringFixed(2))
}

// fixed formats a float with places decimals and thousands separators.
func fixed(f float64, places int32) string {
	d, ok := decimalOf(f)
	if !ok {
		return "-"
	}
	return groupDigits(d.StringFixed(places))
}

func decimalOf(f float64) (decimal.Decimal, bool) {
	if f != f || f > 1e300 || f < -1e300 {
		return decimal.Zero, false
	}
	return decimal.NewFromFloat(f), true
}

func thousands(n int64) string { return groupDigits(fmt.Sprint(n)) }

// groupDigits inserts thousands separators into a plain decimal string.
func groupDigits(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	intPart, frac := s, ""
	if i := strings.IndexByte(s, '.'); i >= 0 {
		intPart, frac = s[:i], s[i:]
	}
	var b strings.Builder
	for i, r := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if sign == "-" && strings.Trim(intPart+frac, "0.") == "" {
		sign = "" // no "-0"
	}
	return sign + b.String() + frac
}

// pct formats a share as a percentage with one decimal.
func pct(share float64) string {
	return fmt.Sprintf("%.1f%%", share*100)
}

// ratio formats a CLV:CAC ratio without needless decimals.
func ratio(r float64) string {
	return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", r), "0"), ".")
}

// reportFromServe prints the report the running serve renders (GET
// /report.txt) and, with htmlOut, writes its HTML report (GET /report).
func reportFromServe(ctx context.Context, cfg config.Config, stdout io.Writer, htmlOut string) error {
	text, err := fetchRawFromServe(ctx, cfg, "/report.txt", 5*time.Minute)
	if err != nil {
		return err
	}
	stdout.Write(text)
	if htmlOut == "" {
		return nil
	}
	page, err := fetchRawFromServe(ctx, cfg, "/report", 5*time.Minute)
	if err != nil {
		return err
	}
	if _, err := state.WriteFileAtomic(htmlOut, func(w io.Writer) (int64, error) {
		n, err := w.Write(page)
		return int64(n), err
	}); err != nil {
		return fmt.Errorf("write %s: %w", htmlOut, err)
	}
	fmt.Fprintf(stdout, "\nHTML report written to %s\n", htmlOut)
	return nil
}

// reportFormat is what a report endpoint answers with.
type reportFormat int

const (
	reportHTML reportFormat = iota
	reportText
	reportJSON
)

// reportHandler serves the report of serve's state file: GET /report (the
// HTML report), GET /report.txt (the terminal summary) and GET /report.json
// (the report's data).
func reportHandler(store *state.Store, cfg config.Config, format reportFormat) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		d, err := report.Build(r.Context(), store, cfg, time.Now())
		if err != nil {
			http.Error(w, "build report: "+err.Error(), http.StatusInternalServerError)
			return
		}
		if format == reportJSON {
			writeJSON(w, d)
			return
		}
		if format == reportHTML {
			var buf bytes.Buffer
			if err := renderHTML(&buf, d); err != nil {
				http.Error(w, "render report: "+err.Error(), http.StatusInternalServerError)
				return
			}
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write(buf.Bytes())
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		printSummary(w, d)
	}
}
