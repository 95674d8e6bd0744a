// Package report builds the business CLV report (`clvsync report`) from the
// state file alone: no HubSpot call is made. It is not the run summary
// (sync.Summary).
package report

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"github.com/clvsync/clvsync/clv"
	"github.com/clvsync/clvsync/state"
	hsync "github.com/clvsync/clvsync/sync"
	"github.com/clvsync/clvsync/sync/config"
)

// Data is everything `clvsync report` shows. Build computes it
// from the state file alone: the results of the latest run, the contacts and
// deals pulled, and the CLV history of earlier runs. No HubSpot call is made.
//
// Money is summed in decimal from the values as written to HubSpot (rounded
// to write_back.rounding_step), so every figure ties back to what the CLV
// engine wrote; float64 is used only for chart coordinates and shares.
type Data struct {
	// GeneratedAt is when the report was built; AsOf when the results it
	// shows were computed (the latest run's clock).
	GeneratedAt time.Time `json:"generated_at"`
	AsOf        time.Time `json:"as_of"`
	// LastRun is the newest run in the run log (zero when there is none).
	LastRun state.Run `json:"last_run"`
	// Currency is deals.home_currency.
	Currency string `json:"currency"`
	// Model is the model named in the results ("bgnbd", "simple", ...);
	// FitNote describes the fit when the run recorded one (Fit).
	Model   string             `json:"model"`
	FitNote string             `json:"fit_note"`
	Fit     *hsync.StoredModel `json:"-"` // its parameters are in fit_note
	// HorizonMonths is model.horizon_months.
	HorizonMonths int `json:"horizon_months"`
	// Customers is the number of contacts with a computed result.
	Customers int `json:"customers"`
	// Every per-contact figure is the value in HubSpot (the last written);
	// HeldBack counts the contacts whose newest computed CLV differs from it.
	HeldBack HeldBack `json:"held_back"`
	Headline Headline `json:"headline"`
	// Acquisition is the maximum acquisition cost section.
	Acquisition  Acquisition  `json:"acquisition"`
	Distribution Distribution `json:"distribution"`
	Tiers        []TierRow    `json:"tiers,omitempty"`
	// TopFifthShare is the share of the tier-basis value held by the 20 %
	// of customers with the highest value (the Pareto check).
	TopFifthShare float64        `json:"top_fifth_share"`
	RFM           RFMGrid        `json:"rfm"`
	Segments      []SegmentRow   `json:"segments,omitempty"`
	Quadrant      QuadrantReport `json:"quadrant"`
	Movement      Movement       `json:"movement"`
	// Backtest is nil when there was too little history for one;
	// BacktestNote then says why.
	Backtest     *BacktestReport `json:"backtest,omitempty"`
	BacktestNote string          `json:"backtest_note"`
	// CompaniesOn mirrors the companies setting; Companies lists the
	// companies with the highest CLV when it is on.
	CompaniesOn    bool         `json:"companies_on"`
	Companies      []CompanyRow `json:"companies,omitempty"`
	CompaniesTotal int          `json:"companies_total"`
	CostToServe    CostToServe  `json:"cost_to_serve"`
}

// HeldBack is what the newest computation holds that is not in HubSpot:
// changes under write_back.min_change, and writes HubSpot refused.
type HeldBack struct {
	// Contacts whose computed CLV total differs from the one written.
	Contacts int `json:"contacts"`
	// Total is computed minus written, summed over those contacts.
	Total decimal.Decimal `json:"total"`
}

// Stat is a sum, mean and median over customers.
type Stat struct {
	Sum    decimal.Decimal `json:"sum"`
	Mean   decimal.Decimal `json:"mean"`
	Median decimal.Decimal `json:"median"`
}

// Headline holds the report's headline numbers. Historical, Predicted and
// Total are profit CLV (after margin and cost per order); the revenue
// figures are before them.
type Headline struct {
	HistoricalRevenue Stat `json:"historical_revenue"`
	PredictedRevenue  Stat `json:"predicted_revenue"`
	Historical        Stat `json:"historical"`
	Predicted         Stat `json:"predicted"`
	Total             Stat `json:"total"`
	Orders            int  `json:"orders"`
	// PredictedLow and PredictedHigh bound the predicted profit's sum with
	// 80% probability: the sum ∓ 1.2816 standard deviations (see spread).
	PredictedLow  decimal.Decimal `json:"predicted_low"`
	PredictedHigh decimal.Decimal `json:"predicted_high"`
}

// z80 is the standard normal quantile of a central 80% interval.
const z80 = 1.2816

// spread is the uncertainty of a sum of customers' predicted values. Their
// purchase processes are independent, so those variances add; the fitted
// parameters are shared, every customer moving with them, so those standard
// deviations add (an upper bound, exact when all move the same way).
type spread struct{ process, param float64 }

func (s *spread) add(c *reportCustomer) {
	sd := c.sd(hsync.ResultPredictedSD)
	s.process += sd * sd
	s.param += c.sd(hsync.ResultPredictedParamSD)
}

func (s spread) variance() float64 { return s.process + s.param*s.param }

// interval80 is sum ∓ z80·√variance, the low end at least 0.
func interval80(sum decimal.Decimal, sp spread) (lo, hi decimal.Decimal) {
	d := decimal.NewFromFloat(z80 * math.Sqrt(math.Max(sp.variance(), 0))).Round(2)
	return decimal.Max(decimal.Zero, sum.Sub(d)), sum.Add(d)
}

// Acquisition is the maximum acquisition cost: what a new customer is worth,
// overall and per acquisition source, and so what acquiring one may cost.
type Acquisition struct {
	// WindowDays is reports.new_customer_days: a customer is new when the
	// first purchase is within this many days of AsOf (Since).
	WindowDays int       `json:"window_days"`
	Since      time.Time `json:"since"`
	// TargetRatio is reports.target_clv_to_cac.
	TargetRatio float64 `json:"target_ratio"`
	// SourceProperty is the contact property that names the source.
	SourceProperty string         `json:"source_property"`
	Overall        AcquisitionRow `json:"overall"`
	// BySource is sorted by new customers, most first.
	BySource []AcquisitionRow `json:"by_source,omitempty"`
}

// AcquisitionRow is the maximum acquisition cost of one group of new
// customers.
type AcquisitionRow struct {
	Source       string `json:"source"`
	NewCustomers int    `json:"new_customers"`
	// AvgCLV is the new customers' average total profit CLV (profit so far
	// plus predicted profit over the horizon).
	AvgCLV decimal.Decimal `json:"avg_clv"`
	// BreakEven is the acquisition cost at which a new customer just pays
	// back (AvgCLV); AtTarget the cost at the target CLV:CAC ratio.
	BreakEven decimal.Decimal `json:"break_even"`
	AtTarget  decimal.Decimal `json:"at_target"`
	// Small marks a group of fewer than 10 customers, too few to trust.
	Small bool `json:"small"`
}

// Distribution is the spread of the tier-basis value over customers.
type Distribution struct {
	// Basis is segments.tiers.basis: "total" or "predicted".
	Basis string `json:"basis"`
	// Values are the customers' values, in money units, highest first.
	Values []float64 `json:"-"`
	// Bounds are the lowest value of every tier but the last, top first:
	// the tier boundaries on the value axis.
	Bounds []TierBound `json:"bounds,omitempty"`
}

// TierBound is the lowest value found in a tier.
type TierBound struct {
	Tier  string  `json:"tier"`
	Value float64 `json:"value"`
}

// TierRow is one tier's size and value.
type TierRow struct {
	Name          string  `json:"name"`
	Customers     int     `json:"customers"`
	CustomerShare float64 `json:"customer_share"`
	// Value is the sum of the tier-basis value; ValueShare its share of
	// the total over all tiers.
	Value      decimal.Decimal `json:"value"`
	ValueShare float64         `json:"value_share"`
	Min        decimal.Decimal `json:"min"`
	Max        decimal.Decimal `json:"max"`
	// ValueLow and ValueHigh bound Value with 80% probability (only its
	// predicted part is uncertain).
	ValueLow  decimal.Decimal `json:"value_low"`
	ValueHigh decimal.Decimal `json:"value_high"`
	spread    spread
}

// RFMGrid is customers by recency score (rows) and frequency score
// (columns), 1..5 each: Cells[r-1][f-1].
type RFMGrid struct {
	Cells [5][5]RFMCell `json:"cells"`
}

// RFMCell is the customers with one recency and frequency score.
type RFMCell struct {
	Customers int `json:"customers"`
	// Revenue is their historical revenue; AvgRevenue its mean.
	Revenue    decimal.Decimal `json:"revenue"`
	AvgRevenue decimal.Decimal `json:"avg_revenue"`
}

// SegmentRow is one named RFM segment's size and value.
type SegmentRow struct {
	Name          string  `json:"name"`
	Customers     int     `json:"customers"`
	CustomerShare float64 `json:"customer_share"`
	// Value is the sum of total CLV; AvgValue its mean.
	Value      decimal.Decimal `json:"value"`
	AvgValue   decimal.Decimal `json:"avg_value"`
	ValueShare float64         `json:"value_share"`
}

// QuadrantReport is the CLV x relationship-length quadrant.
type QuadrantReport struct {
	CLVThreshold    decimal.Decimal `json:"clv_threshold"`
	MonthsThreshold float64         `json:"months_threshold"`
	// Cells are in the order high-long, high-short, low-long, low-short.
	Cells []QuadrantCellRow `json:"cells,omitempty"`
	// Points holds every customer (up to maxQuadrantPoints, evenly
	// sampled) for the scatter plot.
	Points []QuadrantPoint `json:"points,omitempty"`
}

// QuadrantCellRow is one quadrant cell.
type QuadrantCellRow struct {
	Name      string          `json:"name"`
	High      bool            `json:"high"`
	Long      bool            `json:"long"`
	Customers int             `json:"customers"`
	Value     decimal.Decimal `json:"value"`
}

// QuadrantPoint is one customer on the quadrant scatter plot.
type QuadrantPoint struct {
	Months float64 `json:"months"`
	CLV    float64 `json:"clv"`
	Cell   string  `json:"cell"`
}

// Movement compares every customer's latest CLV history point with the one
// before it (the previous run that computed the customer).
type Movement struct {
	// Compared counts customers with at least two history points; New
	// those with one (first computed by the latest run).
	Compared int `json:"compared"`
	New      int `json:"new"`
	// Previous is the time of the most recent earlier point.
	Previous time.Time `json:"previous"`
	// TierMoves is every (from, to) pair, unchanged ones included, in tier
	// order.
	TierMoves []Transition `json:"tier_moves,omitempty"`
	// SegmentMoves are the changed segment pairs, most frequent first;
	// SegmentsUnchanged counts customers who kept theirs.
	SegmentMoves      []Transition `json:"segment_moves,omitempty"`
	SegmentsUnchanged int          `json:"segments_unchanged"`
	// TurnedFalling are customers whose CLV trend is falling now but was
	// not at the previous point, largest CLV drop first (at most
	// maxFalling); TurnedFallingCount counts them all.
	TurnedFalling      []FallingContact `json:"turned_falling,omitempty"`
	TurnedFallingCount int              `json:"turned_falling_count"`
}

// Transition counts customers that moved from one tier or segment to
// another.
type Transition struct {
	From      string `json:"from"`
	To        string `json:"to"`
	Customers int    `json:"customers"`
}

// FallingContact is a customer whose CLV trend turned falling.
type FallingContact struct {
	ContactID string `json:"contact_id"`
	Name      string `json:"name"`
	Tier      string `json:"tier"`
	// CLV is the total CLV now, Baseline the trend's earlier value.
	CLV       decimal.Decimal `json:"clv"`
	Baseline  decimal.Decimal `json:"baseline"`
	ChangePct float64         `json:"change_pct"`
}

// BacktestReport is a backtest of the purchase model on stored deals: the
// model is fitted on the purchases up to CalibrationEnd and its predictions
// are compared with what customers bought afterwards, up to HoldoutEnd.
type BacktestReport struct {
	Model             string             `json:"model"`
	CalibrationEnd    time.Time          `json:"calibration_end"`
	HoldoutEnd        time.Time          `json:"holdout_end"`
	HoldoutWeeks      int                `json:"holdout_weeks"`
	Result            clv.BacktestResult `json:"result"`
	CalibrationLogLik float64            `json:"calibration_loglik"`
	LogLikPC          float64            `json:"loglik_per_customer"`
}

// CompanyRow is one company's CLV: its own values as a customer (each deal
// once), or the sum over its contacts when no run has computed companies
// yet (Own false).
type CompanyRow struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Contacts  int             `json:"contacts"`
	Value     decimal.Decimal `json:"value"`
	Revenue   decimal.Decimal `json:"revenue"`
	ValueRank int             `json:"value_rank"`
	// Own is true when Value and Revenue are the company's own computed
	// values; Tier and ChurnRisk are set then.
	Own       bool   `json:"own"`
	Tier      string `json:"tier,omitempty"`
	ChurnRisk string `json:"churn_risk,omitempty"`
}

// CostToServe shows how the margin and the cost per order turn revenue CLV
// into profit CLV.
type CostToServe struct {
	Margin       float64         `json:"margin"`
	CostPerOrder decimal.Decimal `json:"cost_per_order"`
	// Rows are historical, predicted and total.
	Rows []CostRow `json:"rows,omitempty"`
}

// CostRow is one CLV measure at revenue, after the margin, and after the
// margin and the cost per order (the configured CLV). Values are sums over
// customers; Purchases is the orders (or expected purchases) they cover.
type CostRow struct {
	Name        string          `json:"name"`
	Revenue     decimal.Decimal `json:"revenue"`
	AfterMargin decimal.Decimal `json:"after_margin"`
	Profit      decimal.Decimal `json:"profit"`
	Purchases   decimal.Decimal `json:"purchases"`
}

// Report limits.
const (
	maxQuadrantPoints = 2500
	maxFalling        = 25
	maxCompanies      = 20
	smallGroup        = 10
	// backtestHoldout is the holdout period of the report's backtest.
	backtestHoldout = 26 * 7 * 24 * time.Hour
)

// reportCustomer is one customer's stored inputs and results.
type reportCustomer struct {
	id      string
	contact state.Contact
	orders  []clv.Order
	res     state.Result
	money   map[config.OutputKey]decimal.Decimal
	months  float64
}

func (c *reportCustomer) m(key config.OutputKey) decimal.Decimal { return c.money[key] }

// value returns the stored value of an output.
func (c *reportCustomer) value(key config.OutputKey) string { return c.res.Values[string(key)] }

// reportMoneyKeys are the numeric outputs the report reads.
var reportMoneyKeys = []config.OutputKey{config.OutHistoricalRevenue, config.OutHistorical, config.OutPredicted,
	config.OutPredictedRevenue, config.OutTotal, config.OutExpectedPurchases, config.OutOrders}

// Build computes the report from the store. now is the report's
// generation time; it does not change any figure.
func Build(ctx context.Context, store *state.Store, cfg config.Config, now time.Time) (*Data, error) {
	d := &Data{GeneratedAt: now.UTC(), Currency: cfg.Deals.HomeCurrency, HorizonMonths: cfg.Model.HorizonMonths,
		CompaniesOn: cfg.Companies}
	if last, ok, err := store.LastRun(); err != nil {
		return nil, err
	} else if ok {
		d.LastRun = last
	}
	custs, held, err := loadReportCustomers(ctx, store, cfg)
	if err != nil {
		return nil, err
	}
	d.HeldBack = held
	d.Customers = len(custs)
	models := map[string]int{}
	for _, c := range custs {
		if t, err := time.Parse(time.RFC3339, c.value(config.OutUpdatedAt)); err == nil && t.After(d.AsOf) {
			d.AsOf = t.UTC()
		}
		if m := c.value(config.OutModel); m != "" {
			models[m]++
		}
	}
	if d.AsOf.IsZero() {
		d.AsOf = d.LastRun.Start
	}
	for m, n := range models {
		if d.Model == "" || n > models[d.Model] || (n == models[d.Model] && m < d.Model) {
			d.Model = m
		}
	}
	d.Fit, d.FitNote = readFit(store)
	if d.Fit != nil && d.Model != "" && d.Fit.Type != d.Model {
		d.Fit, d.FitNote = nil, "" // an older fit; the latest run fell back
	}
	for _, c := range custs {
		since := c.contact.CreatedAt
		if first := firstOrder(c.orders); since.IsZero() || (!first.IsZero() && first.Before(since)) {
			since = first
		}
		c.months = clv.RelationshipMonths(since, d.AsOf)
	}
	d.Headline = headline(custs)
	d.Acquisition = acquisition(custs, cfg, d.AsOf)
	d.Distribution, d.Tiers, d.TopFifthShare = tiers(custs, cfg)
	d.RFM = rfmGrid(custs)
	d.Segments = segments(custs, cfg)
	if d.Quadrant, err = quadrant(custs, cfg); err != nil {
		return nil, err
	}
	if d.Movement, err = movement(ctx, store, custs, cfg); err != nil {
		return nil, err
	}
	d.Backtest, d.BacktestNote = backtest(ctx, custs, cfg, d.AsOf, d.Fit)
	if cfg.Companies {
		if d.Companies, d.CompaniesTotal, err = companies(store, custs); err != nil {
			return nil, err
		}
	}
	d.CostToServe = costToServe(custs, cfg, d.HorizonMonths)
	return d, nil
}

// loadReportCustomers joins the stored results with their contacts and
// orders. Contacts without a result (never computed) are left out.
func loadReportCustomers(ctx context.Context, store *state.Store, cfg config.Config) ([]*reportCustomer, HeldBack, error) {
	var held HeldBack
	var custs []*reportCustomer
	byID := map[string]*reportCustomer{}
	err := store.ForEachResultWritten(func(r state.Result, w state.Written, written bool) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		// The figures are the values in HubSpot: what was last written,
		// where it differs from the newest computation (held back).
		computedTotal := r.Values[string(config.OutTotal)]
		if written {
			vals := maps.Clone(r.Values)
			for k, v := range w.Values {
				if cfg.Property(config.OutputKey(k)) != "" {
					vals[k] = v
				}
			}
			r.Values = vals
		}
		c := &reportCustomer{id: r.ContactID, contact: state.Contact{ID: r.ContactID}, res: r, money: map[config.OutputKey]decimal.Decimal{}}
		for _, k := range reportMoneyKeys {
			if v, err := decimal.NewFromString(r.Values[string(k)]); err == nil {
				c.money[k] = v
			}
		}
		if ct, err := decimal.NewFromString(computedTotal); err == nil && written && !ct.Equal(c.money[config.OutTotal]) {
			held.Contacts++
			held.Total = held.Total.Add(ct.Sub(c.money[config.OutTotal]))
		}
		if _, ok := c.money[config.OutTotal]; !ok {
			c.money[config.OutTotal] = r.CLV
		}
		custs = append(custs, c)
		byID[r.ContactID] = c
		return nil
	})
	if err != nil {
		return nil, held, fmt.Errorf("read results: %w", err)
	}
	// Deals decide orders the way the run did: the stored won flag was set
	// from the won stages when the deal was pulled.
	rules := hsync.NewDealRules(cfg, map[string]bool{})
	far := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	err = store.ForEachCustomer(func(ct state.Contact, deals []state.Deal) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		c, ok := byID[ct.ID]
		if !ok {
			return nil
		}
		c.contact = ct
		c.orders = rules.Orders(ct.ID, deals, far)
		return nil
	})
	if err != nil {
		return nil, held, fmt.Errorf("read customers: %w", err)
	}
	return custs, held, nil
}

// readFit returns the stored model the runs predict with and a one-line
// description of it; nil and "" when there is none.
func readFit(store *state.Store) (*hsync.StoredModel, string) {
	m, ok, err := hsync.LoadModel(store)
	if err != nil || !ok {
		return nil, ""
	}
	return &m, m.Note()
}

func firstOrder(orders []clv.Order) time.Time {
	var first time.Time
	for _, o := range orders {
		if o.Amount.IsNegative() {
			continue
		}
		if first.IsZero() || o.At.Before(first) {
			first = o.At
		}
	}
	return first
}

// stat returns the sum, mean and median of values (the mean of the middle
// two for an even count), means rounded to cents.
func stat(values []decimal.Decimal) Stat {
	if len(values) == 0 {
		return Stat{}
	}
	v := slices.Clone(values)
	slices.SortFunc(v, func(a, b decimal.Decimal) int { return a.Cmp(b) })
	var s Stat
	for _, x := range v {
		s.Sum = s.Sum.Add(x)
	}
	n := decimal.NewFromInt(int64(len(v)))
	s.Mean = s.Sum.DivRound(n, 2)
	s.Median = v[len(v)/2]
	if len(v)%2 == 0 {
		s.Median = v[len(v)/2-1].Add(s.Median).DivRound(decimal.NewFromInt(2), 2)
	}
	return s
}

func column(custs []*reportCustomer, key config.OutputKey) []decimal.Decimal {
	out := make([]decimal.Decimal, len(custs))
	for i, c := range custs {
		out[i] = c.m(key)
	}
	return out
}

func headline(custs []*reportCustomer) Headline {
	h := Headline{
		HistoricalRevenue: stat(column(custs, config.OutHistoricalRevenue)),
		PredictedRevenue:  stat(column(custs, config.OutPredictedRevenue)),
		Historical:        stat(column(custs, config.OutHistorical)),
		Predicted:         stat(column(custs, config.OutPredicted)),
		Total:             stat(column(custs, config.OutTotal)),
	}
	var sp spread
	for _, c := range custs {
		h.Orders += int(c.m(config.OutOrders).IntPart())
		sp.add(c)
	}
	h.PredictedLow, h.PredictedHigh = interval80(h.Predicted.Sum, sp)
	return h
}

// sd is a standard deviation the run stored with the customer's result
// under key (0 when it stored none).
func (c *reportCustomer) sd(key string) float64 {
	sd, err := strconv.ParseFloat(c.res.Values[key], 64)
	if err != nil || !(sd > 0) || math.IsInf(sd, 0) {
		return 0
	}
	return sd
}

func acquisition(custs []*reportCustomer, cfg config.Config, asOf time.Time) Acquisition {
	a := Acquisition{WindowDays: cfg.Reports.NewCustomerDays, TargetRatio: cfg.Reports.TargetCLVToCAC,
		SourceProperty: cfg.SourceProperty()}
	a.Since = asOf.Add(-time.Duration(a.WindowDays) * 24 * time.Hour)
	type acc struct {
		n   int
		sum decimal.Decimal
	}
	all := &acc{}
	by := map[string]*acc{}
	for _, c := range custs {
		first := firstOrder(c.orders)
		if first.IsZero() || first.Before(a.Since) || first.After(asOf) {
			continue
		}
		src := c.contact.Source
		if src == "" {
			src = "(unknown)"
		}
		if by[src] == nil {
			by[src] = &acc{}
		}
		for _, g := range []*acc{all, by[src]} {
			g.n++
			g.sum = g.sum.Add(c.m(config.OutTotal))
		}
	}
	row := func(src string, g *acc) AcquisitionRow {
		r := AcquisitionRow{Source: src, NewCustomers: g.n, Small: g.n < smallGroup}
		if g.n > 0 {
			r.AvgCLV = g.sum.DivRound(decimal.NewFromInt(int64(g.n)), 2)
			r.BreakEven = r.AvgCLV
			if ratio, ok := clv.DecimalFromFloat(a.TargetRatio); ok && ratio.IsPositive() {
				r.AtTarget = r.AvgCLV.DivRound(ratio, 2)
			}
		}
		return r
	}
	a.Overall = row("all sources", all)
	for src, g := range by {
		a.BySource = append(a.BySource, row(src, g))
	}
	slices.SortFunc(a.BySource, func(x, y AcquisitionRow) int {
		return cmp.Or(cmp.Compare(y.NewCustomers, x.NewCustomers), cmp.Compare(x.Source, y.Source))
	})
	return a
}

// tiers sizes the tiers by the tier-basis value, in configured order, and
// returns the value distribution with its tier boundaries.
func tiers(custs []*reportCustomer, cfg config.Config) (Distribution, []TierRow, float64) {
	basis := cfg.Segments.Tiers.Basis
	key := config.OutTotal
	if basis == clv.TierBasisPredicted {
		key = config.OutPredicted
	}
	dist := Distribution{Basis: basis}
	rows := make([]TierRow, 0, len(cfg.Segments.Tiers.Names))
	idx := map[string]int{}
	for _, n := range cfg.Segments.Tiers.Names {
		idx[n] = len(rows)
		rows = append(rows, TierRow{Name: n})
	}
	total := decimal.Zero
	values := make([]decimal.Decimal, 0, len(custs))
	for _, c := range custs {
		v := c.m(key)
		values = append(values, v)
		total = total.Add(v)
		i, ok := idx[c.res.Tier]
		if !ok { // a tier renamed since the run
			idx[c.res.Tier] = len(rows)
			i = len(rows)
			rows = append(rows, TierRow{Name: c.res.Tier})
		}
		r := &rows[i]
		if r.Customers == 0 || v.LessThan(r.Min) {
			r.Min = v
		}
		if r.Customers == 0 || v.GreaterThan(r.Max) {
			r.Max = v
		}
		r.Customers++
		r.Value = r.Value.Add(v)
		r.spread.add(c)
	}
	for i := range rows {
		rows[i].ValueLow, rows[i].ValueHigh = interval80(rows[i].Value, rows[i].spread)
		rows[i].CustomerShare = share(rows[i].Customers, len(custs))
		rows[i].ValueShare = decShare(rows[i].Value, total)
	}
	for i, r := range rows {
		if i < len(rows)-1 && r.Customers > 0 {
			dist.Bounds = append(dist.Bounds, TierBound{Tier: r.Name, Value: r.Min.InexactFloat64()})
		}
	}
	slices.SortFunc(values, func(a, b decimal.Decimal) int { return b.Cmp(a) })
	dist.Values = make([]float64, len(values))
	top := decimal.Zero
	for i, v := range values {
		dist.Values[i] = v.InexactFloat64()
		if i < int(math.Ceil(float64(len(values))*0.2)) {
			top = top.Add(v)
		}
	}
	return dist, rows, decShare(top, total)
}

func share(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

func decShare(v, of decimal.Decimal) float64 {
	if of.IsZero() {
		return 0
	}
	return v.DivRound(of, 8).InexactFloat64()
}

// rfmScore parses the "RFM" digits of an rfm_score value.
func rfmScore(s string) (r, f, m int, ok bool) {
	if len(s) != 3 {
		return 0, 0, 0, false
	}
	d := [3]int{}
	for i := range 3 {
		v, err := strconv.Atoi(s[i : i+1])
		if err != nil || v < 1 || v > 5 {
			return 0, 0, 0, false
		}
		d[i] = v
	}
	return d[0], d[1], d[2], true
}

func rfmGrid(custs []*reportCustomer) RFMGrid {
	var g RFMGrid
	for _, c := range custs {
		r, f, _, ok := rfmScore(c.value(config.OutRFMScore))
		if !ok {
			continue
		}
		cell := &g.Cells[r-1][f-1]
		cell.Customers++
		cell.Revenue = cell.Revenue.Add(c.m(config.OutHistoricalRevenue))
	}
	for r := range g.Cells {
		for f := range g.Cells[r] {
			if c := &g.Cells[r][f]; c.Customers > 0 {
				c.AvgRevenue = c.Revenue.DivRound(decimal.NewFromInt(int64(c.Customers)), 2)
			}
		}
	}
	return g
}

func segments(custs []*reportCustomer, cfg config.Config) []SegmentRow {
	var rows []SegmentRow
	idx := map[string]int{}
	add := func(name string) int {
		if i, ok := idx[name]; ok {
			return i
		}
		idx[name] = len(rows)
		rows = append(rows, SegmentRow{Name: name})
		return len(rows) - 1
	}
	for _, r := range cfg.Segments.RFM.Rules {
		add(r.Segment)
	}
	total := decimal.Zero
	for _, c := range custs {
		name := c.res.Segment
		if name == "" {
			name = c.value(config.OutRFMSegment)
		}
		r := &rows[add(name)]
		r.Customers++
		r.Value = r.Value.Add(c.m(config.OutTotal))
		total = total.Add(c.m(config.OutTotal))
	}
	for i := range rows {
		r := &rows[i]
		r.CustomerShare = share(r.Customers, len(custs))
		r.ValueShare = decShare(r.Value, total)
		if r.Customers > 0 {
			r.AvgValue = r.Value.DivRound(decimal.NewFromInt(int64(r.Customers)), 2)
		}
	}
	return rows
}

func quadrant(custs []*reportCustomer, cfg config.Config) (QuadrantReport, error) {
	var q QuadrantReport
	qcfg, err := cfg.CLVQuadrant()
	if err != nil {
		return q, err
	}
	in := make([]clv.QuadrantInput, len(custs))
	for i, c := range custs {
		in[i] = clv.QuadrantInput{ID: c.id, CLV: c.res.CLV, Months: c.months}
	}
	if _, q.CLVThreshold, q.MonthsThreshold, err = clv.Quadrant(in, qcfg); err != nil {
		return q, fmt.Errorf("segments.quadrant: %w", err)
	}
	n := qcfg.Names
	q.Cells = []QuadrantCellRow{
		{Name: n.HighLong, High: true, Long: true}, {Name: n.HighShort, High: true},
		{Name: n.LowLong, Long: true}, {Name: n.LowShort},
	}
	step := max(1, (len(custs)+maxQuadrantPoints-1)/maxQuadrantPoints)
	for i, c := range custs {
		name := c.value(config.OutQuadrant)
		for k := range q.Cells {
			if q.Cells[k].Name == name {
				q.Cells[k].Customers++
				q.Cells[k].Value = q.Cells[k].Value.Add(c.m(config.OutTotal))
			}
		}
		if i%step == 0 {
			q.Points = append(q.Points, QuadrantPoint{Months: c.months, CLV: c.res.CLV.InexactFloat64(), Cell: name})
		}
	}
	return q, nil
}

func movement(ctx context.Context, store *state.Store, custs []*reportCustomer, cfg config.Config) (Movement, error) {
	var mv Movement
	tierMoves := map[[2]string]int{}
	segMoves := map[[2]string]int{}
	tcfg := clv.TrendConfig{Window: time.Duration(cfg.Segments.Trend.WindowDays) * 24 * time.Hour, StableBand: cfg.Segments.Trend.StableBand}
	for _, c := range custs {
		if err := ctx.Err(); err != nil {
			return mv, err
		}
		hist, err := store.History(c.id)
		if err != nil {
			return mv, err
		}
		if len(hist) < 2 {
			mv.New++
			continue
		}
		mv.Compared++
		prev, cur := hist[len(hist)-2], hist[len(hist)-1]
		if prev.At.After(mv.Previous) {
			mv.Previous = prev.At
		}
		tierMoves[[2]string{prev.Tier, cur.Tier}]++
		if prev.Segment == cur.Segment {
			mv.SegmentsUnchanged++
		} else {
			segMoves[[2]string{prev.Segment, cur.Segment}]++
		}
		points := make([]clv.TrendPoint, len(hist))
		for i, h := range hist {
			points[i] = clv.TrendPoint{At: h.At, Value: h.CLV}
		}
		now, err := clv.Trend(points[:len(points)-1], points[len(points)-1], tcfg)
		if err != nil {
			return mv, err
		}
		before, err := clv.Trend(points[:len(points)-2], points[len(points)-2], tcfg)
		if err != nil {
			return mv, err
		}
		if now.Direction == clv.TrendFalling && before.Direction != clv.TrendFalling {
			mv.TurnedFallingCount++
			mv.TurnedFalling = append(mv.TurnedFalling, FallingContact{ContactID: c.id, Name: contactName(c.contact),
				Tier: cur.Tier, CLV: cur.CLV, Baseline: now.Baseline.Value, ChangePct: now.ChangePct.InexactFloat64()})
		}
	}
	tierOrder := map[string]int{}
	for i, n := range cfg.Segments.Tiers.Names {
		tierOrder[n] = i
	}
	for k, n := range tierMoves {
		mv.TierMoves = append(mv.TierMoves, Transition{From: k[0], To: k[1], Customers: n})
	}
	slices.SortFunc(mv.TierMoves, func(a, b Transition) int {
		return cmp.Or(cmp.Compare(rank(tierOrder, a.From), rank(tierOrder, b.From)),
			cmp.Compare(rank(tierOrder, a.To), rank(tierOrder, b.To)), cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
	})
	for k, n := range segMoves {
		mv.SegmentMoves = append(mv.SegmentMoves, Transition{From: k[0], To: k[1], Customers: n})
	}
	slices.SortFunc(mv.SegmentMoves, func(a, b Transition) int {
		return cmp.Or(cmp.Compare(b.Customers, a.Customers), cmp.Compare(a.From, b.From), cmp.Compare(a.To, b.To))
	})
	slices.SortFunc(mv.TurnedFalling, func(a, b FallingContact) int {
		return cmp.Or(b.Baseline.Sub(b.CLV).Cmp(a.Baseline.Sub(a.CLV)), cmp.Compare(a.ContactID, b.ContactID))
	})
	if len(mv.TurnedFalling) > maxFalling {
		mv.TurnedFalling = mv.TurnedFalling[:maxFalling]
	}
	return mv, nil
}

// rank orders known names by their configured position, unknown ones last.
func rank(order map[string]int, name string) int {
	if i, ok := order[name]; ok {
		return i
	}
	return len(order)
}

func contactName(c state.Contact) string {
	if c.Name != "" {
		return c.Name
	}
	return c.Email
}

// backtest fits the configured purchase model on the purchases up to
// backtestHoldout before asOf and compares its predictions for the holdout
// with what customers bought. It returns a note instead when the data or
// the model do not allow one.
func backtest(ctx context.Context, custs []*reportCustomer, cfg config.Config, asOf time.Time, stored *hsync.StoredModel) (*BacktestReport, string) {
	model := cfg.Model.Type
	if model == config.ModelAuto && stored != nil {
		model = stored.Type // the tournament's winner
	}
	if !slices.Contains(clv.PurchaseModels(), model) {
		return nil, fmt.Sprintf("model.type %s has no purchase model to backtest", model)
	}
	unit, _ := clv.ParseTimeUnit(cfg.Model.TimeUnit)
	calEnd := asOf.Add(-backtestHoldout)
	var cal []clv.Summary
	var hold []clv.Holdout
	for _, c := range custs {
		if ctx.Err() != nil {
			return nil, "interrupted"
		}
		var positive []clv.Order
		for _, o := range c.orders {
			if !o.Amount.IsNegative() {
				positive = append(positive, o)
			}
		}
		s, h, ok := clv.SplitHoldout(c.id, positive, calEnd, asOf, unit)
		if ok {
			cal = append(cal, s)
			hold = append(hold, h)
		}
	}
	fit, err := clv.FitModels(cal, clv.FitOptions{Model: model, MinCustomers: cfg.Model.MinCustomers, MinRepeatBuyers: cfg.Model.MinRepeatBuyers})
	if err != nil {
		return nil, fmt.Sprintf("no backtest: the purchases before %s do not support a fit (%v)", calEnd.Format("2006-01-02"), err)
	}
	length := clv.UnitsBetween(calEnd, asOf, unit)
	res, err := clv.Backtest(fit, cal, hold, length)
	if err != nil {
		return nil, fmt.Sprintf("no backtest: %v", err)
	}
	b := &BacktestReport{Model: model, CalibrationEnd: calEnd, HoldoutEnd: asOf, HoldoutWeeks: int(backtestHoldout.Hours() / 24 / 7),
		Result: res, CalibrationLogLik: fit.LogLik}
	if fit.Customers > 0 {
		b.LogLikPC = fit.LogLik / float64(fit.Customers)
	}
	return b, ""
}

// companies ranks the companies by CLV: by their own computed values (the
// latest run's company results), else by the sum over their contacts.
func companies(store *state.Store, custs []*reportCustomer) ([]CompanyRow, int, error) {
	by := map[string]*CompanyRow{}
	for _, c := range custs {
		id := c.contact.CompanyID
		if id == "" {
			continue
		}
		r := by[id]
		if r == nil {
			r = &CompanyRow{ID: id}
			by[id] = r
		}
		r.Contacts++
		r.Value = r.Value.Add(c.m(config.OutTotal))
		r.Revenue = r.Revenue.Add(c.m(config.OutHistoricalRevenue))
	}
	own, err := ownCompanyValues(store)
	if err != nil {
		return nil, 0, err
	}
	if len(own) > 0 {
		for id, o := range own {
			if r := by[id]; r != nil {
				o.Contacts = r.Contacts
			}
		}
		by = own
	}
	rows := make([]CompanyRow, 0, len(by))
	for _, r := range by {
		rows = append(rows, *r)
	}
	slices.SortFunc(rows, func(a, b CompanyRow) int { return cmp.Or(b.Value.Cmp(a.Value), cmp.Compare(a.ID, b.ID)) })
	total := len(rows)
	if len(rows) > maxCompanies {
		rows = rows[:maxCompanies]
	}
	for i := range rows {
		rows[i].ValueRank = i + 1
		co, ok, err := store.Company(rows[i].ID)
		if err != nil {
			return nil, 0, err
		}
		if ok {
			rows[i].Name = co.Name
		}
	}
	return rows, total, nil
}

// ownCompanyValues reads the companies' own values (companies: true): the
// results of the day's full computation and the runs after it, which
// computed only the companies that changed (sync.CurrentSince); empty when
// none did.
func ownCompanyValues(store *state.Store) (map[string]*CompanyRow, error) {
	var results []state.Result
	since := hsync.CurrentSince(store.Meta, true)
	var newest uint64
	err := store.CompanyUnit().ForEachResult(func(r state.Result) error {
		newest = max(newest, r.RunID)
		results = append(results, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if since == 0 {
		since = newest
	}
	by := map[string]*CompanyRow{}
	for _, r := range results {
		if r.RunID < since {
			continue // no longer a customer
		}
		v := func(k config.OutputKey) decimal.Decimal { d, _ := decimal.NewFromString(r.Values[string(k)]); return d }
		by[r.ContactID] = &CompanyRow{ID: r.ContactID, Value: v(config.OutTotal), Revenue: v(config.OutHistoricalRevenue),
			Own: true, Tier: r.Values[string(config.OutTier)], ChurnRisk: r.Values[string(config.OutChurnRisk)]}
	}
	return by, nil
}

func costToServe(custs []*reportCustomer, cfg config.Config, horizon int) CostToServe {
	margin := decimal.NewFromFloat(cfg.Model.Margin)
	cost, _ := cfg.Model.CostPerOrderAmount() // Validate has checked it
	c := CostToServe{Margin: cfg.Model.Margin, CostPerOrder: cost}
	hist := CostRow{Name: "Historical (to date)"}
	totalProfit := decimal.Zero
	pred := CostRow{Name: fmt.Sprintf("Predicted (next %d months)", horizon)}
	for _, cu := range custs {
		hist.Revenue = hist.Revenue.Add(cu.m(config.OutHistoricalRevenue))
		hist.Profit = hist.Profit.Add(cu.m(config.OutHistorical))
		hist.Purchases = hist.Purchases.Add(cu.m(config.OutOrders))
		pred.Revenue = pred.Revenue.Add(cu.m(config.OutPredictedRevenue))
		pred.Profit = pred.Profit.Add(cu.m(config.OutPredicted))
		pred.Purchases = pred.Purchases.Add(cu.m(config.OutExpectedPurchases))
		totalProfit = totalProfit.Add(cu.m(config.OutTotal))
	}
	hist.AfterMargin = hist.Revenue.Mul(margin)
	pred.AfterMargin = pred.Revenue.Mul(margin)
	total := CostRow{Name: "Total", Revenue: hist.Revenue.Add(pred.Revenue), AfterMargin: hist.AfterMargin.Add(pred.AfterMargin),
		Profit: totalProfit, Purchases: hist.Purchases.Add(pred.Purchases)}
	c.Rows = []CostRow{hist, pred, total}
	return c
}
