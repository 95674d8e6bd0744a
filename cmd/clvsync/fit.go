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
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/clvsync/clvsync/clv"
	"github.com/shopspring/decimal"
)

// fitUsage is printed by `clvsync fit -h`.
const fitUsage = `Usage: clvsync fit --transactions FILE.csv [flags]
       clvsync fit --summary FILE.csv [flags]

Fits a purchase model (BG/NBD by default) and the Gamma-Gamma spend model and
prints the parameters. --transactions reads a CSV with a header naming
customer_id, date (YYYY-MM-DD or RFC 3339) and amount, in any order.
--summary reads id,x,t_x,T,zbar or lifetimes' frequency,recency,T,monetary_value
with an ID/id/customer_id column.

--model auto runs a tournament: BG/NBD, MBG/NBD, Pareto/NBD and MBG/CNBD-k
(mbgcnbdk, for customers who reorder on a rhythm; its regularity k needs
--transactions) are fitted on the calibration period and scored on the holdout (--calibration-end and
--holdout-end; without them the history is split in half), the scorecard is
printed and the winner (lowest per-customer MAE) is refitted on all data.
--simple prints the simple formulas from --transactions instead of a fit.
SIGINT or SIGTERM stops a running fit.

Exit codes: 0 success, 1 the data cannot support a fit (or the fit was
stopped), 2 bad flags or input.

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
	unitsPerMonth         float64
	simple                bool
	margin, costPerOrder  decimal.Decimal
	simplePeriod          int
	splitHalf             bool // --model auto without a holdout: split the history in half
}

// modelAuto is the --model value that runs the tournament.
const modelAuto = "auto"

// runFit implements `clvsync fit`. It returns the process exit code.
func runFit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFitFlags(args, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
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

func parseFitFlags(args []string, stdout, stderr io.Writer) (fitConfig, error) {
	var cfg fitConfig
	fs := flag.NewFlagSet("fit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), fitUsage)
		printFlags(fs)
	}
	var calEnd, holdEnd, unit, margin, cost string
	fs.StringVar(&cfg.transactions, "transactions", "", "transactions CSV (customer_id, date, amount)")
	fs.StringVar(&cfg.summary, "summary", "", "per-customer summary CSV instead of transactions")
	fs.StringVar(&calEnd, "calibration-end", "", "last day of the calibration period, YYYY-MM-DD (default: last transaction date)")
	fs.StringVar(&holdEnd, "holdout-end", "", "last day of the holdout period, YYYY-MM-DD; prints a backtest")
	fs.StringVar(&unit, "time-unit", "week", "model time unit: day, week or month")
	fs.StringVar(&cfg.model, "model", clv.ModelBGNBD, "purchase model: "+strings.Join(clv.PurchaseModels(), ", ")+", or auto (tournament)")
	fs.Float64Var(&cfg.unitsPerMonth, "units-per-month", 0, "model time units per month of the CLV horizon (default lifetimes': 4.345 weeks, 30 days, 1 month)")
	fs.BoolVar(&cfg.simple, "simple", false, "print the simple formulas from --transactions instead of fitting a model")
	fs.StringVar(&margin, "margin", "1", "--simple: gross margin as a fraction (0.3 = 30 %)")
	fs.StringVar(&cost, "cost-per-order", "0", "--simple: cost per order")
	fs.IntVar(&cfg.simplePeriod, "simple-period-months", 36, "--simple: period of the purchases formula in months")
	fs.IntVar(&cfg.horizonMonths, "horizon-months", 12, "CLV horizon in months")
	fs.Float64Var(&cfg.monthlyDiscount, "monthly-discount", 0.01, "monthly discount rate")
	fs.StringVar(&cfg.predictions, "predictions", "", "write per-customer predictions to this CSV")
	fs.BoolVar(&cfg.json, "json", false, "print one JSON object instead of a table")
	if _, ok := parseArgs(fs, args, stdout); !ok {
		if slices.ContainsFunc(args, func(a string) bool { return a == "-h" || a == "--help" || a == "-help" }) {
			return cfg, flag.ErrHelp
		}
		return cfg, errors.New("bad flags (see clvsync fit --help)")
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
	if cfg.model != modelAuto && !slices.Contains(clv.PurchaseModels(), cfg.model) {
		return cfg, fmt.Errorf("--model %q: want %s or auto", cfg.model, strings.Join(clv.PurchaseModels(), ", "))
	}
	if cfg.model == modelAuto && cfg.summary != "" {
		return cfg, errors.New("--model auto needs --transactions (it scores the models on a holdout period)")
	}
	if cfg.unitsPerMonth == 0 {
		cfg.unitsPerMonth = clv.UnitsPerMonth(u)
	}
	if !(cfg.unitsPerMonth > 0) || math.IsInf(cfg.unitsPerMonth, 0) {
		return cfg, fmt.Errorf("--units-per-month %v: want a positive number", cfg.unitsPerMonth)
	}
	var derr error
	if cfg.margin, derr = decimal.NewFromString(margin); derr != nil || cfg.margin.IsNegative() {
		return cfg, fmt.Errorf("--margin %q: want a fraction >= 0 such as 0.3", margin)
	}
	if cfg.costPerOrder, derr = decimal.NewFromString(cost); derr != nil || cfg.costPerOrder.IsNegative() {
		return cfg, fmt.Errorf("--cost-per-order %q: want an amount >= 0", cost)
	}
	if cfg.simple && cfg.transactions == "" {
		return cfg, errors.New("--simple needs --transactions (dated orders)")
	}
	if cfg.simplePeriod <= 0 {
		return cfg, fmt.Errorf("--simple-period-months %d: want > 0", cfg.simplePeriod)
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
	PAlive      fitPAliveReport    `json:"p_alive"`
	FitSeconds  float64            `json:"fit_seconds"`
	Tournament  *fitTournament     `json:"tournament,omitempty"`
	Calibration string             `json:"calibration_end,omitempty"`
	Backtest    *fitBacktestReport `json:"backtest,omitempty"`
}

type fitSpendReport struct {
	P      float64 `json:"p"`
	Q      float64 `json:"q"`
	Gamma  float64 `json:"gamma"`
	LogLik float64 `json:"loglik"`
	// Fallback is set when the Gamma-Gamma model could not be used.
	Fallback     string  `json:"fallback,omitempty"`
	AverageSpend float64 `json:"average_spend"`
}

// fitPAliveReport summarises P(alive) over the customers fitted.
type fitPAliveReport struct {
	Mean      float64 `json:"mean"`
	Below30   int     `json:"below_0_3"`
	Below70   int     `json:"below_0_7"`
	Customers int     `json:"customers"`
}

// fitTournament is the --model auto scorecard.
type fitTournament struct {
	CalibrationEnd string          `json:"calibration_end"`
	HoldoutEnd     string          `json:"holdout_end"`
	HoldoutLength  float64         `json:"holdout_length"`
	Customers      int             `json:"customers"`
	Actual         float64         `json:"actual_purchases"`
	Winner         string          `json:"winner"`
	Models         []fitModelScore `json:"models"`
}

type fitModelScore struct {
	Model            string                `json:"model"`
	Error            string                `json:"error,omitempty"`
	LogLik           float64               `json:"loglik"`
	Params           map[string]float64    `json:"params,omitempty"`
	MAE              float64               `json:"mae"`
	BiasPct          float64               `json:"bias_pct"`
	CalibrationError float64               `json:"calibration_error"`
	Buckets          []clv.FrequencyBucket `json:"buckets,omitempty"`
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
	if cfg.simple {
		return fitSimple(cfg, stdout)
	}
	var (
		summaries []clv.Summary
		holdout   []clv.Holdout
		tour      *fitTournament
		err       error
	)
	switch {
	case cfg.model == modelAuto:
		summaries, tour, err = fitTournamentRun(ctx, &cfg)
		if err != nil {
			return err
		}
		cfg.model = tour.Winner
	case cfg.transactions != "":
		summaries, holdout, err = fitLoadTransactions(&cfg)
	default:
		summaries, err = fitLoadSummaryCSV(cfg.summary)
	}
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("fit stopped: %w", err)
	}
	start := time.Now()
	f, err := clv.FitModelsContext(ctx, summaries, clv.FitOptions{Model: cfg.model})
	elapsed := time.Since(start)
	if err != nil {
		return fmt.Errorf("fit %d customers: %w", len(summaries), err)
	}
	rep := fitReport{
		Model: f.Purchase.Name(), Customers: f.Customers, TimeUnit: cfg.unit.String(),
		Params: f.Purchase.Params(), LogLik: f.LogLik,
		Spend: fitSpendReport{P: f.Spend.P, Q: f.Spend.Q, Gamma: f.Spend.Gamma, LogLik: f.SpendLogLik,
			Fallback: f.SpendFallback, AverageSpend: f.AverageSpend},
		FitSeconds: elapsed.Seconds(),
		Tournament: tour,
	}
	for _, s := range summaries {
		p := f.Purchase.PAlive(s)
		rep.PAlive.Mean += p
		if p < 0.3 {
			rep.PAlive.Below30++
		}
		if p < 0.7 {
			rep.PAlive.Below70++
		}
	}
	rep.PAlive.Customers = len(summaries)
	rep.PAlive.Mean /= float64(max(len(summaries), 1))
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

// fitTournamentRun runs --model auto: it splits the transactions at
// --calibration-end (default: half-way through the history) and
// --holdout-end (default: the last transaction), scores the models on the
// holdout and returns every customer's summary through the holdout end, on
// which the winner is then refitted.
func fitTournamentRun(ctx context.Context, cfg *fitConfig) ([]clv.Summary, *fitTournament, error) {
	byID, ids, first, last, err := fitReadTransactions(cfg.transactions)
	if err != nil {
		return nil, nil, err
	}
	calEnd, holdEnd := cfg.calibrationEnd, cfg.holdoutEnd
	if holdEnd.IsZero() {
		holdEnd = last.UTC()
	}
	if calEnd.IsZero() {
		calEnd = first.Add(last.Sub(first) / 2).UTC()
	}
	if !holdEnd.After(calEnd) {
		return nil, nil, fitBadInput("--model auto: the holdout end %s must be after the calibration end %s",
			holdEnd.Format(time.DateOnly), calEnd.Format(time.DateOnly))
	}
	cal, hold := clv.SplitLog(byID, calEnd, holdEnd, cfg.unit)
	if len(cal) == 0 {
		return nil, nil, fitBadInput("%s: no customer has a transaction on or before %s", cfg.transactions, calEnd.Format(time.DateOnly))
	}
	length := clv.UnitsBetween(calEnd, holdEnd, cfg.unit)
	sc, err := clv.Tournament(ctx, cal, hold, length, clv.TournamentOptions{})
	if err != nil {
		return nil, nil, err
	}
	t := &fitTournament{CalibrationEnd: calEnd.Format(time.DateOnly), HoldoutEnd: holdEnd.Format(time.DateOnly),
		HoldoutLength: length, Customers: sc.Customers, Actual: sc.ActualPurchases, Winner: sc.Winner}
	for _, m := range sc.Scores {
		ms := fitModelScore{Model: m.Model, LogLik: m.LogLik, Params: m.Params, MAE: m.MAE, BiasPct: m.BiasPct,
			CalibrationError: m.CalibrationError, Buckets: m.Buckets}
		if m.Err != nil {
			ms.Error = m.Err.Error()
		}
		t.Models = append(t.Models, ms)
	}
	var all []clv.Summary
	for _, id := range ids {
		if s, ok := clv.Summarize(id, byID[id], holdEnd, cfg.unit); ok {
			all = append(all, s)
		}
	}
	cfg.calibrationEnd, cfg.holdoutEnd = holdEnd, time.Time{}
	return all, t, nil
}

// fitSimple prints the simple formulas (profit per order x purchases over
// the period, value per month x lifespan) computed from the transactions as
// of --calibration-end (default: the last transaction's day).
func fitSimple(cfg fitConfig, stdout io.Writer) error {
	byID, ids, _, last, err := fitReadTransactions(cfg.transactions)
	if err != nil {
		return err
	}
	asOf := cfg.calibrationEnd
	if asOf.IsZero() {
		asOf = last.UTC()
	}
	// The whole asOf day counts, as in the purchase-model summaries.
	asOf = time.Date(asOf.Year(), asOf.Month(), asOf.Day(), 0, 0, 0, 0, time.UTC)
	hs := make([]clv.HistoricalValue, 0, len(ids))
	for _, id := range ids {
		hs = append(hs, clv.Historical(byID[id], cfg.margin, cfg.costPerOrder, asOf.Add(24*time.Hour-time.Nanosecond)))
	}
	sc := clv.DefaultSimpleConfig()
	sc.Period = cfg.simplePeriod
	b, err := clv.NewSimpleBase(hs, sc, asOf)
	if err != nil {
		return err
	}
	money := func(d decimal.Decimal) string { return clv.RoundMoney(d).StringFixed(2) }
	rows := [][2]string{
		{"profit per order", money(b.ProfitPerOrder)},
		{"purchases", b.Purchases.StringFixed(2)},
		{"by purchases", money(b.ByPurchases)},
		{"value per month", money(b.ValuePerPeriod)},
		{"churn per month", b.ChurnRate.StringFixed(4)},
		{"lifespan (months)", b.Lifespan.StringFixed(2)},
		{"by lifespan", money(b.ByLifespan)},
	}
	if cfg.json {
		out := map[string]any{"as_of": asOf.Format(time.DateOnly), "customers": b.Customers, "buyers": b.Buyers,
			"churned": b.Churned, "period_months": sc.Period, "flags": b.Flags.String()}
		for _, r := range rows {
			out[strings.NewReplacer(" ", "_", "(", "", ")", "").Replace(r[0])] = r[1]
		}
		return json.NewEncoder(stdout).Encode(out)
	}
	fmt.Fprintf(stdout, "simple formulas as of %s: %d customers, %d buyers, %d churned (no order for %d months)\n",
		asOf.Format(time.DateOnly), b.Customers, b.Buyers, b.Churned, sc.InactiveAfter)
	fmt.Fprintf(stdout, "purchases are per customer over %d months\n", sc.Period)
	for _, r := range rows {
		fmt.Fprintf(stdout, "%-18s %s\n", r[0], r[1])
	}
	if len(b.Flags) > 0 {
		fmt.Fprintf(stdout, "note               %s\n", b.Flags)
	}
	return nil
}

func printFitReport(w io.Writer, r fitReport) {
	if t := r.Tournament; t != nil {
		fmt.Fprintf(w, "tournament    calibration through %s, holdout through %s (%.2f %ss), %d customers, %.0f holdout purchases\n",
			t.CalibrationEnd, t.HoldoutEnd, t.HoldoutLength, r.TimeUnit, t.Customers, t.Actual)
		fmt.Fprintf(w, "  %-10s  %12s  %8s  %8s  %11s\n", "model", "log-lik", "MAE", "bias", "calib. err")
		for _, m := range t.Models {
			if m.Error != "" {
				fmt.Fprintf(w, "  %-10s  fit failed: %s\n", m.Model, m.Error)
				continue
			}
			fmt.Fprintf(w, "  %-10s  %12.2f  %8.4f  %+7.2f%%  %11.4f\n", m.Model, m.LogLik, m.MAE, m.BiasPct, m.CalibrationError)
		}
		fmt.Fprintf(w, "  winner %s (lowest MAE), refitted on all data below\n\n", t.Winner)
	}
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
	if r.Spend.Fallback != "" {
		fmt.Fprintf(w, "spend model   average spend %.2f: %s\n", r.Spend.AverageSpend, r.Spend.Fallback)
	} else {
		fmt.Fprintf(w, "spend model   gamma-gamma p %.6f  q %.6f  gamma %.6f  log-lik %.4f\n", r.Spend.P, r.Spend.Q, r.Spend.Gamma, r.Spend.LogLik)
	}
	fmt.Fprintf(w, "P(alive)      mean %.4f  below 0.3: %d  below 0.7: %d of %d customers\n", r.PAlive.Mean, r.PAlive.Below30, r.PAlive.Below70, r.PAlive.Customers)
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
	upm := cfg.unitsPerMonth
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

// fitReadTransactions reads the transactions CSV into orders per customer
// (ids in order of first appearance) and the first and last dates.
func fitReadTransactions(path string) (map[string][]clv.Order, []string, time.Time, time.Time, error) {
	var first, last time.Time
	header, rows, err := fitReadCSV(path, "transactions")
	if err != nil {
		return nil, nil, first, last, err
	}
	cols := [3]int{}
	for i, name := range []string{"customer_id", "date", "amount"} {
		if cols[i], err = fitColumn(header, path, name); err != nil {
			return nil, nil, first, last, err
		}
	}
	ci, di, ai := cols[0], cols[1], cols[2]
	byID := map[string][]clv.Order{}
	var ids []string
	for n, row := range rows {
		line := n + 2
		id := strings.TrimSpace(row[ci])
		if id == "" {
			return nil, nil, first, last, fitBadInput("%s:%d: column customer_id: empty", path, line)
		}
		at, err := fitParseDate(row[di])
		if err != nil {
			return nil, nil, first, last, fitBadInput("%s:%d: column date: %q is not YYYY-MM-DD or RFC 3339", path, line, row[di])
		}
		amt, err := decimal.NewFromString(strings.TrimSpace(row[ai]))
		if err != nil {
			return nil, nil, first, last, fitBadInput("%s:%d: column amount: %q is not a number", path, line, row[ai])
		}
		if amt.IsNegative() {
			return nil, nil, first, last, fitBadInput("%s:%d: column amount: negative amount %s", path, line, amt)
		}
		if _, ok := byID[id]; !ok {
			ids = append(ids, id)
		}
		byID[id] = append(byID[id], clv.Order{At: at, Amount: amt})
		if at.After(last) {
			last = at
		}
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return byID, ids, first, last, nil
}

// fitLoadTransactions reads the transactions CSV and summarises each customer
// (and their holdout, with --holdout-end). Customers are kept in order of
// first appearance. It fills in cfg.calibrationEnd when it was not given.
func fitLoadTransactions(cfg *fitConfig) ([]clv.Summary, []clv.Holdout, error) {
	path := cfg.transactions
	byID, ids, _, last, err := fitReadTransactions(path)
	if err != nil {
		return nil, nil, err
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
