package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/clvsync/clvsync/clv"
	"github.com/shopspring/decimal"
)

// fitUsage is printed by `clvsync fit -h`.
const fitUsage = `usage: clvsync fit --transactions FILE.csv [flags]
       clvsync fit --summary FILE.csv [flags]

Fits a purchase model (BG/NBD by default) and the Gamma-Gamma spend model and
prints the parameters. --transactions reads a CSV with a header naming
customer_id, date (YYYY-MM-DD or RFC 3339) and amount, in any order.
--summary reads id,x,t_x,T,zbar or lifetimes' frequency,recency,T,monetary_value
with an ID/id/customer_id column.

Exit codes: 0 success, 1 the data cannot support a fit, 2 bad flags or input.

Flags:
`

// fitInputError marks bad input, which exits with code 2.
type fitInputError struct{ err error }

func (e *fitInputError) Error() string { return e.err.Error() }
func (e *fitInputError) Unwrap() error { return e.err }

func fitBadInput(format string, args ...any) error {
	return &fitInputError{fmt.Errorf(format, args...)}
}

// fitConfig holds the parsed flags of the fit command.
type fitConfig struct {
	transactions, summary string
	calibrationEnd        time.Time
	holdoutEnd            time.Time
	unit                  clv.TimeUnit
	model                 string
	horizonMonths         int
	monthlyDiscount       float64
	predictions           string
	json                  bool
}

// runFit implements `clvsync fit`. It returns the process exit code.
func runFit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFitFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 2
	}
	if err := fitRun(ctx, cfg, stdout); err != nil {
		fmt.Fprintln(stderr, "error:", err)
		var ie *fitInputError
		if errors.As(err, &ie) {
			return 2
		}
		return 1
	}
	return 0
}

func parseFitFlags(args []string, stderr io.Writer) (fitConfig, error) {
	var cfg fitConfig
	fs := flag.NewFlagSet("fit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, fitUsage)
		fs.PrintDefaults()
	}
	var calEnd, holdEnd, unit string
	fs.StringVar(&cfg.transactions, "transactions", "", "transactions CSV (customer_id, date, amount)")
	fs.StringVar(&cfg.summary, "summary", "", "per-customer summary CSV instead of transactions")
	fs.StringVar(&calEnd, "calibration-end", "", "last day of the calibration period, YYYY-MM-DD (default: last transaction date)")
	fs.StringVar(&holdEnd, "holdout-end", "", "last day of the holdout period, YYYY-MM-DD; prints a backtest")
	fs.StringVar(&unit, "time-unit", "week", "model time unit: day, week or month")
	fs.StringVar(&cfg.model, "model", clv.ModelBGNBD, "purchase model: bgnbd, mbgnbd or paretonbd")
	fs.IntVar(&cfg.horizonMonths, "horizon-months", 12, "CLV horizon in months")
	fs.Float64Var(&cfg.monthlyDiscount, "monthly-discount", 0.01, "monthly discount rate")
	fs.StringVar(&cfg.predictions, "predictions", "", "write per-customer predictions to this CSV")
	fs.BoolVar(&cfg.json, "json", false, "print one JSON object instead of a table")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case cfg.transactions == "" && cfg.summary == "":
		return cfg, errors.New("one of --transactions or --summary is required")
	case cfg.transactions != "" && cfg.summary != "":
		return cfg, errors.New("--transactions and --summary are mutually exclusive")
	}
	u, ok := clv.ParseTimeUnit(unit)
	if !ok {
		return cfg, fmt.Errorf("--time-unit %q: want day, week or month", unit)
	}
	cfg.unit = u
	switch cfg.model {
	case clv.ModelBGNBD, clv.ModelMBGNBD, clv.ModelParetoNBD:
	default:
		return cfg, fmt.Errorf("--model %q: want bgnbd, mbgnbd or paretonbd", cfg.model)
	}
	if cfg.horizonMonths < 0 || cfg.horizonMonths > 1200 {
		return cfg, fmt.Errorf("--horizon-months %d: want 0..1200", cfg.horizonMonths)
	}
	if math.IsNaN(cfg.monthlyDiscount) || cfg.monthlyDiscount < 0 || cfg.monthlyDiscount >= 1 {
		return cfg, fmt.Errorf("--monthly-discount %v: want 0 <= d < 1", cfg.monthlyDiscount)
	}
	var err error
	if calEnd != "" {
		if cfg.calibrationEnd, err = time.Parse(time.DateOnly, calEnd); err != nil {
			return cfg, fmt.Errorf("--calibration-end %q: want YYYY-MM-DD", calEnd)
		}
	}
	if holdEnd != "" {
		if cfg.holdoutEnd, err = time.Parse(time.DateOnly, holdEnd); err != nil {
			return cfg, fmt.Errorf("--holdout-end %q: want YYYY-MM-DD", holdEnd)
		}
		switch {
		case cfg.summary != "":
			return cfg, errors.New("--holdout-end needs --transactions")
		case calEnd == "":
			return cfg, errors.New("--holdout-end needs --calibration-end")
		case !cfg.holdoutEnd.After(cfg.calibrationEnd):
			return cfg, errors.New("--holdout-end must be after --calibration-end")
		}
	}
	return cfg, nil
}

// fitReport is the --json output.
type fitReport struct {
	Model       string             `json:"model"`
	Customers   int                `json:"customers"`
	TimeUnit    string             `json:"time_unit"`
	Params      map[string]float64 `json:"params"`
	LogLik      float64            `json:"loglik"`
	Spend       fitSpendReport     `json:"spend"`
	FitSeconds  float64            `json:"fit_seconds"`
	Calibration string             `json:"calibration_end,omitempty"`
	Backtest    *fitBacktestReport `json:"backtest,omitempty"`
}

type fitSpendReport struct {
	P      float64 `json:"p"`
	Q      float64 `json:"q"`
	Gamma  float64 `json:"gamma"`
	LogLik float64 `json:"loglik"`
}

type fitBacktestReport struct {
	HoldoutEnd         string  `json:"holdout_end"`
	HoldoutLength      float64 `json:"holdout_length"`
	PredictedPurchases float64 `json:"predicted_purchases"`
	ActualPurchases    float64 `json:"actual_purchases"`
	AggregateErrorPct  float64 `json:"aggregate_error_pct"`
	MAEPurchases       float64 `json:"mae_purchases"`
	Correlation        float64 `json:"correlation"`
	PredictedSpend     float64 `json:"predicted_spend"`
	ActualSpend        float64 `json:"actual_spend"`
	SpendErrorPct      float64 `json:"spend_error_pct"`
	MAESpend           float64 `json:"mae_spend"`
	Deciles            []struct {
		Decile        int     `json:"decile"`
		Customers     int     `json:"customers"`
		MeanPredicted float64 `json:"mean_predicted"`
		MeanActual    float64 `json:"mean_actual"`
	} `json:"deciles"`
}

func fitRun(ctx context.Context, cfg fitConfig, stdout io.Writer) error {
	var (
		summaries []clv.Summary
		holdout   []clv.Holdout
		err       error
	)
	if cfg.transactions != "" {
		summaries, holdout, err = fitLoadTransactions(&cfg)
	} else {
		summaries, err = fitLoadSummaryCSV(cfg.summary)
	}
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	start := time.Now()
	f, err := clv.FitModels(summaries, clv.FitOptions{Model: cfg.model})
	elapsed := time.Since(start)
	if err != nil {
		return fmt.Errorf("fit %d customers: %w", len(summaries), err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	rep := fitReport{
		Model: f.Purchase.Name(), Customers: f.Customers, TimeUnit: cfg.unit.String(),
		Params: f.Purchase.Params(), LogLik: f.LogLik,
		Spend:      fitSpendReport{P: f.Spend.P, Q: f.Spend.Q, Gamma: f.Spend.Gamma, LogLik: f.SpendLogLik},
		FitSeconds: elapsed.Seconds(),
	}
	if !cfg.calibrationEnd.IsZero() {
		rep.Calibration = cfg.calibrationEnd.Format(time.DateOnly)
	}
	if holdout != nil {
		length := clv.UnitsBetween(cfg.calibrationEnd, cfg.holdoutEnd, cfg.unit)
		bt, err := clv.Backtest(f, summaries, holdout, length)
		if err != nil {
			return err
		}
		br := &fitBacktestReport{
			HoldoutEnd: cfg.holdoutEnd.Format(time.DateOnly), HoldoutLength: length,
			PredictedPurchases: bt.PredictedPurchases, ActualPurchases: bt.ActualPurchases,
			AggregateErrorPct: bt.AggregateErrorPct, MAEPurchases: bt.MAEPurchases, Correlation: bt.Correlation,
			PredictedSpend: bt.PredictedSpend, ActualSpend: bt.ActualSpend,
			SpendErrorPct: bt.AggregateSpendErrorPct, MAESpend: bt.MAESpend,
		}
		for _, d := range bt.Deciles {
			br.Deciles = append(br.Deciles, struct {
				Decile        int     `json:"decile"`
				Customers     int     `json:"customers"`
				MeanPredicted float64 `json:"mean_predicted"`
				MeanActual    float64 `json:"mean_actual"`
			}{d.Decile, d.Customers, d.MeanPredicted, d.MeanActual})
		}
		rep.Backtest = br
	}
	if cfg.predictions != "" {
		if err := fitWritePredictions(cfg, f, summaries); err != nil {
			return err
		}
	}
	if cfg.json {
		enc := json.NewEncoder(stdout)
		return enc.Encode(rep)
	}
	printFitReport(stdout, rep)
	return nil
}

func printFitReport(w io.Writer, r fitReport) {
	fmt.Fprintf(w, "model         %s\n", r.Model)
	fmt.Fprintf(w, "customers     %d\n", r.Customers)
	fmt.Fprintf(w, "time unit     %s\n", r.TimeUnit)
	if r.Calibration != "" {
		fmt.Fprintf(w, "calibration   through %s\n", r.Calibration)
	}
	names := make([]string, 0, len(r.Params))
	for k := range r.Params {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(w, "  %-10s  %.6f\n", k, r.Params[k])
	}
	fmt.Fprintf(w, "log-lik       %.4f\n", r.LogLik)
	fmt.Fprintf(w, "spend model   gamma-gamma p %.6f  q %.6f  gamma %.6f  log-lik %.4f\n", r.Spend.P, r.Spend.Q, r.Spend.Gamma, r.Spend.LogLik)
	fmt.Fprintf(w, "fit time      %.3f s\n", r.FitSeconds)
	if b := r.Backtest; b != nil {
		fmt.Fprintf(w, "\nbacktest through %s (%.2f %ss)\n", b.HoldoutEnd, b.HoldoutLength, r.TimeUnit)
		fmt.Fprintf(w, "  purchases   predicted %.1f  actual %.0f  error %+.2f%%  MAE %.4f  corr %.4f\n",
			b.PredictedPurchases, b.ActualPurchases, b.AggregateErrorPct, b.MAEPurchases, b.Correlation)
		fmt.Fprintf(w, "  spend       predicted %.2f  actual %.2f  error %+.2f%%  MAE %.4f\n",
			b.PredictedSpend, b.ActualSpend, b.SpendErrorPct, b.MAESpend)
		fmt.Fprintf(w, "  decile  customers  predicted  actual\n")
		for _, d := range b.Deciles {
			fmt.Fprintf(w, "  %6d  %9d  %9.4f  %6.4f\n", d.Decile, d.Customers, d.MeanPredicted, d.MeanActual)
		}
	}
}

func fitWritePredictions(cfg fitConfig, f *clv.Fitted, ss []clv.Summary) (err error) {
	out, err := os.Create(cfg.predictions)
	if err != nil {
		return fmt.Errorf("--predictions: %w", err)
	}
	defer func() {
		if cerr := out.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("--predictions: %w", cerr)
		}
	}()
	w := csv.NewWriter(out)
	_ = w.Write([]string{"id", "x", "t_x", "T", "zbar", "expected_purchases", "p_alive", "expected_spend", "clv"})
	upm := clv.UnitsPerMonth(cfg.unit)
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }
	for _, s := range ss {
		p := f.Predict(s, cfg.horizonMonths, cfg.monthlyDiscount, upm)
		_ = w.Write([]string{s.ID, g(s.X), g(s.Tx), g(s.T), g(s.MeanSpend),
			g(p.ExpectedPurchases), g(p.PAlive), g(p.ExpectedSpend), clv.DecimalCLV(p.CLV).String()})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("--predictions: %w", err)
	}
	return nil
}

// fitReadCSV opens a CSV file and returns its header (lower-cased, trimmed)
// and rows; it reports empty files and ragged rows as input errors.
func fitReadCSV(path, flagName string) ([]string, [][]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, nil, fitBadInput("--%s: %w", flagName, err)
	}
	defer fh.Close()
	r := csv.NewReader(fh)
	r.ReuseRecord = false
	header, err := r.Read()
	if err == io.EOF {
		return nil, nil, fitBadInput("%s: empty file", path)
	}
	if err != nil {
		return nil, nil, fitBadInput("%s: %w", path, err)
	}
	for i, h := range header {
		header[i] = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
	}
	rows, err := r.ReadAll()
	if err != nil {
		return nil, nil, fitBadInput("%s: %w", path, err)
	}
	if len(rows) == 0 {
		return nil, nil, fitBadInput("%s: no data rows", path)
	}
	return header, rows, nil
}

func fitColumn(header []string, path string, names ...string) (int, error) {
	for _, n := range names {
		for i, h := range header {
			if h == strings.ToLower(n) {
				return i, nil
			}
		}
	}
	return 0, fitBadInput("%s: missing column %q in header %v", path, names[0], header)
}

func fitParseDate(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, s)
}

// fitLoadTransactions reads the transactions CSV and summarises each customer
// (and their holdout, with --holdout-end). Customers are kept in order of
// first appearance. It fills in cfg.calibrationEnd when it was not given.
func fitLoadTransactions(cfg *fitConfig) ([]clv.Summary, []clv.Holdout, error) {
	path := cfg.transactions
	header, rows, err := fitReadCSV(path, "transactions")
	if err != nil {
		return nil, nil, err
	}
	ci, err := fitColumn(header, path, "customer_id")
	if err != nil {
		return nil, nil, err
	}
	di, err := fitColumn(header, path, "date")
	if err != nil {
		return nil, nil, err
	}
	ai, err := fitColumn(header, path, "amount")
	if err != nil {
		return nil, nil, err
	}
	byID := map[string][]clv.Order{}
	var ids []string
	var last time.Time
	for n, row := range rows {
		line := n + 2
		id := strings.TrimSpace(row[ci])
		if id == "" {
			return nil, nil, fitBadInput("%s:%d: column customer_id: empty", path, line)
		}
		at, err := fitParseDate(row[di])
		if err != nil {
			return nil, nil, fitBadInput("%s:%d: column date: %q is not YYYY-MM-DD or RFC 3339", path, line, row[di])
		}
		amt, err := decimal.NewFromString(strings.TrimSpace(row[ai]))
		if err != nil {
			return nil, nil, fitBadInput("%s:%d: column amount: %q is not a number", path, line, row[ai])
		}
		if amt.IsNegative() {
			return nil, nil, fitBadInput("%s:%d: column amount: negative amount %s", path, line, amt)
		}
		if _, ok := byID[id]; !ok {
			ids = append(ids, id)
		}
		byID[id] = append(byID[id], clv.Order{At: at, Amount: amt})
		if at.After(last) {
			last = at
		}
	}
	if cfg.calibrationEnd.IsZero() {
		cfg.calibrationEnd = last.UTC()
	}
	var ss []clv.Summary
	var hs []clv.Holdout
	for _, id := range ids {
		if cfg.holdoutEnd.IsZero() {
			if s, ok := clv.Summarize(id, byID[id], cfg.calibrationEnd, cfg.unit); ok {
				ss = append(ss, s)
			}
			continue
		}
		if s, h, ok := clv.SplitHoldout(id, byID[id], cfg.calibrationEnd, cfg.holdoutEnd, cfg.unit); ok {
			ss = append(ss, s)
			hs = append(hs, h)
		}
	}
	if len(ss) == 0 {
		return nil, nil, fitBadInput("%s: no customer has a transaction on or before %s", path, cfg.calibrationEnd.Format(time.DateOnly))
	}
	return ss, hs, nil
}

// fitLoadSummaryCSV reads id,x,t_x,T,zbar or lifetimes'
// ID,frequency,recency,T,monetary_value.
func fitLoadSummaryCSV(path string) ([]clv.Summary, error) {
	header, rows, err := fitReadCSV(path, "summary")
	if err != nil {
		return nil, err
	}
	idc, err := fitColumn(header, path, "id", "customer_id")
	if err != nil {
		return nil, err
	}
	cols := [4]int{}
	names := [4]string{}
	if _, err := fitColumn(header, path, "x"); err == nil {
		names = [4]string{"x", "t_x", "t", "zbar"}
	} else {
		names = [4]string{"frequency", "recency", "t", "monetary_value"}
	}
	for i, n := range names {
		if cols[i], err = fitColumn(header, path, n); err != nil {
			return nil, err
		}
	}
	out := make([]clv.Summary, 0, len(rows))
	for n, row := range rows {
		line := n + 2
		var v [4]float64
		for i, c := range cols {
			f, err := strconv.ParseFloat(strings.TrimSpace(row[c]), 64)
			if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
				return nil, fitBadInput("%s:%d: column %s: %q is not a non-negative number", path, line, header[c], row[c])
			}
			v[i] = f
		}
		s := clv.Summary{ID: strings.TrimSpace(row[idc]), X: v[0], Tx: v[1], T: v[2], MeanSpend: v[3]}
		switch {
		case s.X != math.Floor(s.X):
			return nil, fitBadInput("%s:%d: column %s: %v is not a whole number", path, line, header[cols[0]], s.X)
		case s.Tx > s.T:
			return nil, fitBadInput("%s:%d: t_x %v is after T %v", path, line, s.Tx, s.T)
		case s.X == 0 && s.Tx != 0:
			return nil, fitBadInput("%s:%d: t_x %v with no repeat purchases", path, line, s.Tx)
		}
		out = append(out, s)
	}
	return out, nil
}
