package sync

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	gosync "sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/clvsync/clvsync/clv"
	"github.com/clvsync/clvsync/state"
	"github.com/clvsync/clvsync/sync/config"
)

// customer is one contact's inputs and computed values during a run. It
// holds only what the model and segments need, not the contact's deals: a
// run keeps one per customer in memory.
type customer struct {
	id      string
	created time.Time // contact create date
	// orders are the customer's orders, held while its chunk is computed
	// (the subscription model needs each payment).
	orders   []clv.Order
	hist     clv.HistoricalValue
	summary  clv.Summary
	simple   decimal.Decimal // the simple formula's value by lifespan
	pred     clv.Prediction
	predRev  decimal.Decimal // predicted revenue over the horizon
	predProf decimal.Decimal // predicted profit over the horizon
	// predLow and predHigh are the 10th and 90th percentiles of the
	// predicted profit; confidence bands their width ("" without an
	// interval).
	predLow, predHigh decimal.Decimal
	confidence        string
	predVar           float64 // variance of the predicted profit from the purchase process
	predParamSD       float64 // its standard deviation from the parameters' uncertainty
	// band is the purchase model's interval on revenue with the variance
	// and parameter standard deviation behind it; restored says pred and
	// band were kept from an earlier pass (computeAll), not computed.
	band      band
	restored  bool
	total     decimal.Decimal // historical profit + predicted profit
	flags     clv.Flags
	prevTier  string
	tierSince time.Time // when prevTier was entered
	tier      string
	rfm       clv.RFMScore
	quadrant  string
	churn     string
	trend     clv.TrendResult
}

// compute derives every output for the customers as of now and stores the
// results (and a CLV history point per customer) under runID: for every
// customer, or, when full is false and the day's compute basis serves, for
// the customers whose inputs changed, which it returns as ids (see
// basis.go). A dry run stores nothing: its results are returned instead.
func (r *Runner) compute(ctx context.Context, runID uint64, rules DealRules, o RunOptions, full bool, rep *Summary) (dry []state.Result, ids []string, err error) {
	if r.ComputeGCPercent > 0 {
		defer debug.SetGCPercent(debug.SetGCPercent(r.ComputeGCPercent))
	}
	if !full && !o.Reconcile {
		b, ids, ok, err := r.changedOnly(rules, r.now(), o)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			dry, err := r.computeChanged(runID, rules, o, b, ids, rep)
			return dry, ids, err
		}
	}
	if r.outerLimit > 0 {
		// Everyone's scales and summaries are live at once: not bounded
		// like the rest of an incremental run (boundRun).
		defer debug.SetMemoryLimit(debug.SetMemoryLimit(r.outerLimit))
	}
	dry, err = r.computeAll(ctx, runID, rules, o, rep)
	return dry, nil, err
}

// computeAll computes every customer and saves the compute basis its
// segmentation and totals make. It holds the keys of the scales (48 bytes
// a customer, as floats), never the customers themselves: three passes over
// the store, each a chunk of customers at a time. The first gathers what the
// model needs (the simple base's sums; with a refit due, the summaries the
// fit condenses), the second predicts every customer, writes the
// prediction's floats and the exact CLV to a file beside the state file
// (keptSpill) and keeps
// the keys that rank customers into tiers, RFM scores and quadrants, and
// the third rebuilds each customer, reads its
// prediction back, places it on the scales those keys make (exactly as
// ranking everyone at once would) and stores its results.
func (r *Runner) computeAll(ctx context.Context, runID uint64, rules DealRules, o RunOptions, rep *Summary) ([]state.Result, error) {
	cfg := r.Config
	env, err := r.computeEnv()
	if err != nil {
		return nil, err
	}
	asOf := env.asOf
	pass := r.newPasses(ctx, rules, env)

	// Pass 1: the population the model is fitted on.
	_, refit := r.modelDue(asOf, o)
	pop, err := r.firstPass(pass, refit != "")
	if err != nil {
		return nil, err
	}
	rep.Customers, rep.Computed = pop.customers, pop.customers
	m, err := r.model(ctx, pop, rules, pop.simple.Base(), env.unit, asOf, o, rep)
	if err != nil {
		return nil, err
	}
	if m.Rhythm == 0 {
		m.Rhythm = r.rhythmOf(pass, pop) // a model stored before rhythms were
	}
	// The fit's inputs are not needed past here (a refit's summaries are
	// 8 MB at 300k contacts).
	pop.summaries, pop.tenures = nil, nil
	returnFreed()

	// Pass 2: predictions, kept as floats in a file beside the state
	// file, and the keys of the scales.
	kept, err := newKeptSpill(filepath.Dir(cfg.State.Path))
	if err != nil {
		return nil, err
	}
	defer kept.close()
	keys, err := newScaleKeys(filepath.Dir(cfg.State.Path))
	if err != nil {
		return nil, err
	}
	defer keys.close()
	if err := pass.each(1, func(custs []*customer) error {
		if err := r.predictWith(custs, m, env, rep); err != nil {
			return err
		}
		for _, c := range custs {
			if err := kept.write(keptPrediction{id: idHash(c.id), pred: c.pred, band: c.band, total: c.total}); err != nil {
				return err
			}
			rfm, buyer := clv.RFMKeyOf(rfmInput(c), cfg.Segments.RFM)
			q := quadrantInput(c, asOf)
			if err := keys.add(r.tierValue(c).InexactFloat64(), rfm, buyer, q.CLV.InexactFloat64(), q.Months); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	returnFreed() // pass 2's garbage, before the scales read and sort the keys a column at a time
	// The quadrant's median CLV is exact: its candidates are read back
	// from the kept predictions.
	eachCLV := func(fn func(decimal.Decimal) error) error {
		if err := kept.rewind(); err != nil {
			return err
		}
		for {
			k, ok, err := kept.next()
			if err != nil || !ok {
				return err
			}
			if err := fn(k.total); err != nil {
				return err
			}
		}
	}
	sc, err := r.scalesOf(keys, eachCLV)
	if err != nil {
		return nil, err
	}
	keys.close()
	returnFreed()
	if err := kept.rewind(); err != nil {
		return nil, err
	}

	// Pass 3: each customer again, its prediction taken back, placed on
	// the scales, stored.
	b := computeBasis{Day: day(asOf), Hash: r.computeHash(rules), ModelVersion: rep.ModelVersion, RunID: runID,
		Tiers: sc.tiers, RFM: sc.rfm, QuadCLV: sc.quadCLV, QuadMonths: sc.quadMonths, Pending: true}
	var all []state.Result // a dry run's
	var pending []state.Result
	next := 0
	rep.Value = Value{Currency: cfg.Deals.HomeCurrency}
	if names := cfg.Segments.Tiers.Names; len(names) > 0 {
		rep.Value.TopTier = names[0]
	}
	err = pass.each(2, func(custs []*customer) error {
		for _, c := range custs {
			k, ok, err := kept.next()
			if err != nil {
				return err
			}
			if !ok || k.id != idHash(c.id) {
				return fmt.Errorf("compute: the customers changed between passes (at %s %s); run again", r.unitOf().kind, c.id)
			}
			c.pred, c.band, c.restored = k.pred, k.band, true
			next++
		}
		if err := r.predictWith(custs, m, env, rep); err != nil {
			return err
		}
		if err := r.segmentOn(custs, b, asOf, m.Rhythm, true); err != nil {
			return err
		}
		v := r.value(custs, env.step)
		rep.Value.Total, rep.Value.Predicted = rep.Value.Total.Add(v.Total), rep.Value.Predicted.Add(v.Predicted)
		rep.Value.topTotal = rep.Value.topTotal.Add(v.topTotal)
		for _, c := range custs {
			out := r.outputs(c, rep.Model, env.step, asOf)
			res := state.Result{ContactID: c.id, Values: out.values(), CLV: c.total, Tier: c.tier, Segment: c.rfm.Segment}
			if o.DryRun {
				all = append(all, res)
				continue
			}
			if pending = append(pending, res); len(pending) == 1000 {
				if err := r.Store.PutResults(runID, asOf, pending); err != nil {
					return err
				}
				pending = pending[:0]
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if next != kept.n {
		return nil, fmt.Errorf("compute: the customers changed between passes (%d, then %d); run again", kept.n, next)
	}
	if rep.Value.Total.IsPositive() {
		rep.Value.TopTierShare = rep.Value.topTotal.Div(rep.Value.Total).InexactFloat64()
	}
	if o.DryRun {
		return all, nil
	}
	// The last results go with the basis, pending until the write-back
	// ends (see settle).
	b.Customers, b.Total, b.Predicted, b.TopTotal = pop.customers, rep.Value.Total, rep.Value.Predicted, rep.Value.topTotal
	meta, err := b.meta(r.unitOf().basisKey)
	if err != nil {
		return nil, err
	}
	return nil, r.Store.FinishCompute(runID, asOf, pending, nil, false, meta)
}

// returnFreed collects garbage and hands the freed heap back to the system
// between computeAll's passes. The runtime otherwise keeps it for minutes:
// at 300k contacts, pass 3 began with 34 MB of heap in use but 163 MB of
// anonymous memory resident, the fit's and pass 2's garbage.
func returnFreed() { debug.FreeOSMemory() }

// value sums the customers' CLV as it is written (rounded parts) and the
// top tier's share of it.
func (r *Runner) value(custs []*customer, step decimal.Decimal) Value {
	v := Value{Currency: r.Config.Deals.HomeCurrency}
	if names := r.Config.Segments.Tiers.Names; len(names) > 0 {
		v.TopTier = names[0]
	}
	for _, c := range custs {
		hp, _ := c.hist.HistoricalCLV()
		pred := roundTo(c.predProf, step)
		total := roundTo(hp, step).Add(pred)
		v.Total, v.Predicted = v.Total.Add(total), v.Predicted.Add(pred)
		if c.tier == v.TopTier {
			v.topTotal = v.topTotal.Add(total)
		}
	}
	if v.Total.IsPositive() {
		v.TopTierShare = v.topTotal.Div(v.Total).InexactFloat64()
	}
	return v
}

// monthlyRate converts an annual discount rate to the equivalent monthly one.
func monthlyRate(annual float64) float64 { return math.Pow(1+annual, 1.0/12) - 1 }

// modelDue returns the stored model and why it must be fitted again now
// ("" when it serves).
func (r *Runner) modelDue(asOf time.Time, o RunOptions) (StoredModel, string) {
	old, ok, err := loadModel(r.Store, r.unitOf().modelKey)
	if err != nil {
		r.Logger.Warn("stored model unreadable; fitting a new one", "err", err)
		ok = false
	}
	return old, refitReason(old, ok, r.Config, asOf, o.Refit)
}

// model returns the model this run predicts with: the stored one, or a new
// fit when refitReason says one is due. A new fit is saved unless the run is
// a dry run; rep records the version and why it was fitted.
func (r *Runner) model(ctx context.Context, pop *population, rules DealRules, base clv.SimpleBase, unit clv.TimeUnit, asOf time.Time, o RunOptions, rep *Summary) (StoredModel, error) {
	old, reason := r.modelDue(asOf, o)
	if reason == "" {
		rep.ModelVersion = old.Version
		return old, nil
	}
	// A fit is CPU for a while: the pages the passes mapped need not stay
	// resident meanwhile.
	r.releaseMapped()
	m := r.fit(ctx, pop, rules, base, unit, asOf)
	if err := ctx.Err(); err != nil {
		return m, err
	}
	m.Version, m.FittedAt, m.Reason, m.Hash = old.Version+1, asOf, reason, r.Config.ModelHash()
	rep.Refit, rep.ModelVersion = reason, m.Version
	if !o.DryRun {
		if err := r.saveModel(m); err != nil {
			return m, fmt.Errorf("save the fitted model: %w", err)
		}
	}
	r.Logger.Info("model fitted", "version", m.Version, "reason", reason, "model", m.describe())
	return m, nil
}

// fit fits the configured model to the population, falling back to the
// simple formulas when the data cannot support it.
func (r *Runner) fit(ctx context.Context, pop *population, rules DealRules, base clv.SimpleBase, unit clv.TimeUnit, asOf time.Time) StoredModel {
	cfg := r.Config.Model
	m := StoredModel{Type: cfg.Type, Base: base, Rhythm: clv.BuyingRhythm(pop.summaries)}
	fallback := func(reason string) StoredModel {
		m.Type, m.Fallback, m.Params, m.Spend = config.ModelSimple, reason, nil, nil
		return m
	}
	switch cfg.Type {
	case config.ModelSimple:
		return m
	case config.ModelSubscription:
		tenures := pop.tenures
		if len(tenures) < cfg.MinCustomers {
			return fallback(fmt.Sprintf("%d subscribers, fewer than model.min_customers %d", len(tenures), cfg.MinCustomers))
		}
		sbg, err := clv.FitSBG(tenures)
		if err != nil {
			return fallback(err.Error())
		}
		m.Params = map[string]float64{"alpha": sbg.Alpha, "beta": sbg.Beta}
		m.LogLik, m.Customers = sbg.LogLikelihood, len(tenures)
		return m
	}
	summaries := pop.summaries
	if cfg.Type == config.ModelAuto {
		m.Type, m.Tournament = r.tournament(ctx, pop.first, pop.customers, rules, unit, asOf)
	}
	f, err := clv.FitModelsContext(ctx, summaries, clv.FitOptions{Model: m.Type, MinCustomers: cfg.MinCustomers, MinRepeatBuyers: cfg.MinRepeatBuyers})
	if err != nil {
		if !errors.Is(err, clv.ErrInsufficientData) && !errors.Is(err, clv.ErrDegenerateFit) {
			r.Logger.Warn("model fit failed", "model", m.Type, "err", err)
		}
		return fallback(err.Error())
	}
	// Intervals carry the parameters' uncertainty when their covariance
	// can be estimated; without it they carry the purchase process's only.
	if err := f.EstimateCovariance(ctx, summaries); err != nil {
		r.Logger.Info("no parameter covariance: intervals leave parameter uncertainty out", "err", err)
	}
	m.Params, m.Spend = f.Purchase.Params(), f.Spend.Params()
	m.LogLik, m.SpendLogLik, m.Customers, m.RepeatBuyers = f.LogLik, f.SpendLogLik, f.Customers, f.RepeatBuyers
	m.SpendFallback, m.AverageSpend, m.Cov = f.SpendFallback, f.AverageSpend, f.Cov
	return m
}

// tournament scores the purchase models on the portal's own history: fitted
// on the orders up to the calibration end, scored on the holdout after it
// (the later half of the history, at most a year). It returns the winner,
// refitted on all data by the caller, and the scorecard; when no
// tournament is possible it returns BG/NBD and says why. The split
// summaries come from a second pass over the store, so no run holds every
// customer's orders in memory.
func (r *Runner) tournament(ctx context.Context, first time.Time, customers int, rules DealRules, unit clv.TimeUnit, asOf time.Time) (string, *Tournament) {
	t := &Tournament{HoldoutEnd: asOf}
	holdout := min(asOf.Sub(first)/2, 365*24*time.Hour)
	t.CalibrationEnd = asOf.Add(-holdout)
	if holdout < 30*24*time.Hour {
		t.Note = "less than two months of history: no tournament, bgnbd used"
		return clv.ModelBGNBD, t
	}
	// On a large portal the models are scored on a sample of about
	// tournamentSample customers, chosen by a hash of their ids, so the
	// same customers every refit: the scores' standard errors are already
	// small at that size, and the tournament's memory and time stop
	// growing with the portal (it held 72 bytes a customer and took most of
	// the model step: 96 s of a 300k-contact portal's).
	keep := uint64(math.MaxUint64)
	if customers > tournamentSample {
		keep = uint64(float64(math.MaxUint64) * float64(tournamentSample) / float64(customers))
	}
	// Sized once: grown by append, they left as much again of garbage at
	// the model step's peak.
	size := min(customers, tournamentSample+tournamentSample/10)
	cal, hold := make([]clv.Summary, 0, size), make([]clv.Holdout, 0, size)
	err := r.Store.ForEachCustomer(func(c state.Contact, deals []state.Deal) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		t.Customers++
		if idSample(c.ID) > keep {
			return nil
		}
		if s, h, ok := clv.SplitHoldout(c.ID, r.orders(rules, c.ID, deals, asOf), t.CalibrationEnd, asOf, unit); ok {
			s.ID = "" // as the population's summaries
			cal, hold = append(cal, s), append(hold, h)
		}
		return nil
	})
	t.Scored = len(cal)
	if err != nil {
		r.Logger.Warn("model tournament: could not read the order history", "err", err)
		t.Note = "the order history could not be read (" + err.Error() + "): no tournament, bgnbd used"
		return clv.ModelBGNBD, t
	}
	r.releaseMapped()
	length := clv.UnitsBetween(t.CalibrationEnd, asOf, unit)
	budget := time.Duration(r.Config.Model.FitBudget)
	// One model at a time, each within the fit budget: a slow fit is left
	// out instead of holding the run.
	for _, model := range clv.TournamentModels {
		mctx, cancel := context.WithTimeout(ctx, budget)
		card, err := clv.Tournament(mctx, cal, hold, length,
			clv.TournamentOptions{Models: []string{model}, MinCustomers: r.Config.Model.MinCustomers, MinRepeatBuyers: r.Config.Model.MinRepeatBuyers})
		timedOut := mctx.Err() != nil && ctx.Err() == nil
		cancel()
		ts := TournamentScore{Model: model}
		switch {
		case timedOut:
			ts.Error = fmt.Sprintf("its fit took longer than model.fit_budget %s, so it was left out", budget)
		case len(card.Scores) == 1 && card.Scores[0].Err != nil:
			ts.Error = card.Scores[0].Err.Error() // the model's own reason, not the tournament's wrapping
		case err != nil:
			ts.Error = err.Error()
		case len(card.Scores) == 1:
			s := card.Scores[0]
			ts.MAE, ts.BiasPct, ts.CalibrationError = s.MAE, s.BiasPct, s.CalibrationError
		}
		t.Scores = append(t.Scores, ts)
	}
	for _, s := range t.Scores {
		if s.Error != "" {
			continue
		}
		if w, ok := t.score(t.Winner); !ok || s.MAE < w.MAE || (s.MAE == w.MAE && s.CalibrationError < w.CalibrationError) {
			t.Winner = s.Model
		}
	}
	if t.Winner == "" {
		t.Note = "no model could be scored (" + t.Scores[0].Error + "): bgnbd used"
		return clv.ModelBGNBD, t
	}
	r.Logger.Info("model tournament", "winner", t.Winner, "scorecard", t.String())
	return t.Winner, t
}

// tournamentSample is about how many customers the model tournament
// scores on (a variable for tests).
var tournamentSample = 100_000

// idSample maps a customer id to a uniform 64-bit number, the same on
// every run, for sampling.
func idSample(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	x := h.Sum64() // then murmur3's finalizer, so ids a digit apart spread over the range
	x = (x ^ x>>33) * 0xff51afd7ed558ccd
	x = (x ^ x>>33) * 0xc4ceb9fe1a85ec53
	return x ^ x>>33
}

// predict fills each customer's prediction from the model m, whose simple
// base is taken as of asOf.
func (r *Runner) predict(custs []*customer, m StoredModel, unit clv.TimeUnit, margin, cost decimal.Decimal, asOf time.Time, rep *Summary) error {
	cfg := r.Config.Model
	horizon := decimal.NewFromInt(int64(cfg.HorizonMonths))
	monthly := monthlyRate(cfg.AnnualDiscountRate)
	base := m.Base
	base.AsOf = asOf
	rep.Model = m.Type
	rep.FitNote = m.Note()
	switch m.Type {
	case config.ModelSimple:
		for _, c := range custs {
			if m.Fallback != "" {
				c.flags = append(c.flags, clv.FallbackToSimple(m.Fallback))
			}
			simple := base.Customer(c.hist)
			if simple.Churned || c.hist.Orders == 0 {
				continue
			}
			// Expected purchases and profit over the horizon at the
			// customer's (or the base's) rates: rate per month x months.
			purchases := simple.PurchaseRate.Mul(horizon)
			c.pred.ExpectedPurchases = purchases.InexactFloat64()
			c.predProf = clampMoney(simple.ValuePerPeriod.Mul(horizon))
			c.predRev = revenueOf(c.predProf, cost, purchases, margin)
			c.pred.PAlive = 1
			c.confidence = string(clv.ConfidenceLow) // base averages, no model of this customer
		}
	case config.ModelSubscription:
		sbg := clv.SBG{Alpha: m.Params["alpha"], Beta: m.Params["beta"]}
		sc := clv.SubscriptionConfig{Horizon: cfg.HorizonMonths, Discount: monthly}
		for _, c := range custs {
			t, ok := clv.SubscriptionTenure(c.orders, clv.Month, subscriptionGrace, asOf)
			if !ok || c.hist.Orders == 0 {
				continue
			}
			v, err := clv.SubscriptionCLV(clv.SubscriptionValuePerPeriod(c.hist.Profit, t), sbg, t, sc)
			if err != nil {
				return err
			}
			c.predProf = clampMoney(v.CLV)
			c.predRev = revenueOf(c.predProf, cost, v.ExpectedPeriods, margin)
			c.pred.ExpectedPurchases = v.ExpectedPeriods.InexactFloat64()
			c.pred.PAlive = sbg.PAlive(t)
		}
	default:
		fit, err := m.fitted()
		if err != nil {
			return err
		}
		upm := clv.UnitsPerMonth(unit)
		eachParallel(custs, func(c *customer) {
			if c.hist.Orders == 0 {
				return
			}
			if !c.restored {
				c.pred = fit.Predict(c.summary, cfg.HorizonMonths, monthly, upm)
				// The interval is on revenue. It carries the purchase
				// process's uncertainty and the fitted parameters'.
				lo, hi := fit.Interval(c.summary, cfg.HorizonMonths, upm, c.pred, 0.1, 0.9)
				psd := fit.ParamSD(c.summary, cfg.HorizonMonths, monthly, upm, c.pred)
				c.band = band{psd: psd}
				c.band.lo, c.band.hi = clv.WidenInterval(c.pred.CLV, lo, hi, psd, 0.1, 0.9)
				if clampMoney(clv.DecimalCLV(c.pred.CLV)).IsPositive() {
					c.band.variance = fit.Variance(c.summary, cfg.HorizonMonths, upm, c.pred)
				}
			}
			c.derive(margin, cost)
		})
	}
	for _, c := range custs {
		hp, clamped := c.hist.HistoricalCLV()
		if clamped {
			c.flags = append(c.flags, clv.Flag{Kind: clv.FlagClamped, Reason: "refunds exceed revenue"})
		}
		c.total = hp.Add(c.predProf)
	}
	return nil
}

// band is a purchase model's interval on a customer's predicted revenue
// (10th and 90th percentiles), the variance of that revenue from the
// purchase process and its standard deviation from the parameters.
type band struct {
	lo, hi, variance, psd float64
}

// derive sets c's predicted money from its prediction and band: revenue,
// profit (revenue x margin less the cost of the expected orders), the
// profit's interval taken in proportion to revenue's, its spread and the
// confidence that interval's width gives.
func (c *customer) derive(margin, cost decimal.Decimal) {
	c.predRev = clampMoney(clv.DecimalCLV(c.pred.CLV))
	purchases, _ := clv.DecimalFromFloat(c.pred.ExpectedPurchases)
	c.predProf = clampMoney(c.predRev.Mul(margin).Sub(cost.Mul(purchases)))
	if c.predRev.IsPositive() {
		k := c.predProf.Div(c.predRev)
		c.predLow, c.predHigh = clampMoney(clv.DecimalCLV(c.band.lo).Mul(k)), clampMoney(clv.DecimalCLV(c.band.hi).Mul(k))
		kf := k.InexactFloat64()
		c.predVar = c.band.variance * kf * kf
		c.predParamSD = c.band.psd * math.Abs(kf)
	}
	c.confidence = string(clv.ConfidenceOf(c.predProf.InexactFloat64(), c.predLow.InexactFloat64(), c.predHigh.InexactFloat64()))
}

// predictWith sets the customers' simple values from m's base, then
// predicts them with m (see predict).
func (r *Runner) predictWith(custs []*customer, m StoredModel, env computeEnv, rep *Summary) error {
	// Between refits the base averages are the model's too, so a
	// customer's simple value moves only with its own orders and time.
	base := m.Base
	base.AsOf = env.asOf
	for _, c := range custs {
		c.simple = base.Customer(c.hist).ByLifespan
	}
	return r.predict(custs, m, env.unit, env.margin, env.cost, env.asOf, rep)
}

// eachParallel calls fn for every customer, on every core: intervals cost
// about 0.1 ms a customer.
func eachParallel(custs []*customer, fn func(*customer)) {
	workers := runtime.GOMAXPROCS(0)
	var wg gosync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(custs); i += workers {
				fn(custs[i])
			}
		}()
	}
	wg.Wait()
}

// revenueOf is the revenue behind a profit: (profit + cost per order x
// purchases) / margin, so revenue and profit always agree (profit never
// exceeds revenue at a margin <= 100%).
func revenueOf(profit, cost, purchases, margin decimal.Decimal) decimal.Decimal {
	if !margin.IsPositive() {
		return decimal.Zero
	}
	return clampMoney(profit.Add(cost.Mul(purchases)).Div(margin))
}

// subscriptionGrace is how long after a missed monthly payment a subscriber
// still counts as active.
const subscriptionGrace = 45 * 24 * time.Hour

func clampMoney(d decimal.Decimal) decimal.Decimal {
	v, _ := clv.ClampNonNegative(d)
	return v
}

// stayInTier is the tier c takes when ranked into tier: its previous tier
// while it has been there less than minStay.
func stayInTier(c *customer, tier string, asOf time.Time, minStay time.Duration) string {
	if c.prevTier != "" && tier != c.prevTier && minStay > 0 {
		if entered := c.tierSince; !entered.IsZero() && asOf.Sub(entered) < minStay {
			return c.prevTier // too soon to move again
		}
	}
	return tier
}

// quadrantInput is c's CLV and relationship length: from its creation, or
// its first purchase when that is earlier.
func quadrantInput(c *customer, asOf time.Time) clv.QuadrantInput {
	since := c.created
	if since.IsZero() || (!c.hist.First.IsZero() && c.hist.First.Before(since)) {
		since = c.hist.First
	}
	return clv.QuadrantInput{ID: c.id, CLV: c.total, Months: clv.RelationshipMonths(since, asOf)}
}

// trendOf compares c's CLV with its history.
func trendOf(c *customer, hist []state.HistoryPoint, asOf time.Time, tcfg clv.TrendConfig) (err error) {
	// A trend needs a baseline at least a day old: runs a few hours
	// apart would otherwise flip every contact from "new" to "stable"
	// and rewrite them all.
	points := make([]clv.TrendPoint, 0, len(hist))
	for _, h := range hist {
		if !h.At.After(asOf.Add(-minTrendBaseline)) {
			points = append(points, clv.TrendPoint{At: h.At, Value: h.CLV})
		}
	}
	if c.trend, err = clv.Trend(points, clv.TrendPoint{At: asOf, Value: c.total}, tcfg); err != nil {
		return fmt.Errorf("segments.trend: %w", err)
	}
	c.trend.Baseline = clv.TrendPoint{} // not an output; one customer is kept per contact
	return nil
}

// minTrendBaseline is how old a history point must be to serve as a trend
// baseline.
const minTrendBaseline = 24 * time.Hour

// outputs formats every output of one customer as HubSpot takes it; money
// is rounded to step (write_back.rounding_step).
func (r *Runner) outputs(c *customer, model string, step decimal.Decimal, asOf time.Time) contactOutput {
	hp, _ := c.hist.HistoricalCLV()
	money := map[config.OutputKey]decimal.Decimal{
		config.OutHistoricalRevenue: clampMoney(c.hist.Revenue),
		config.OutHistorical:        hp,
		config.OutPredicted:         c.predProf,
		config.OutPredictedLow:      c.predLow,
		config.OutPredictedHigh:     c.predHigh,
		config.OutPredictedRevenue:  c.predRev,
		config.OutTotal:             c.total,
		config.OutSimple:            c.simple,
		config.OutExpectedPurchases: decimal.NewFromFloat(round(c.pred.ExpectedPurchases, 2)),
		config.OutPAlive:            decimal.NewFromFloat(round(c.pred.PAlive, 3)),
		config.OutTrendChange:       c.trend.ChangePct.Round(1),
	}
	if c.hist.Orders > 0 {
		money[config.OutAvgOrderValue] = clampMoney(c.hist.Revenue).Div(decimal.NewFromInt(int64(c.hist.Orders)))
	}
	// The total is the sum of the two parts as written, so what a workflow
	// or a report adds up agrees to the cent.
	money[config.OutTotal] = roundTo(hp, step).Add(roundTo(c.predProf, step))
	v := map[config.OutputKey]string{}
	for _, def := range config.OutputDefs() {
		if def.Kind == config.KindMoney {
			v[def.Key] = roundStep(money[def.Key], step)
		}
	}
	v[config.OutExpectedPurchases] = money[config.OutExpectedPurchases].StringFixed(2)
	v[config.OutPAlive] = money[config.OutPAlive].StringFixed(3)
	v[config.OutOrders] = strconv.Itoa(c.hist.Orders)
	if !c.hist.First.IsZero() {
		v[config.OutFirstPurchase] = c.hist.First.UTC().Format("2006-01-02")
		v[config.OutLastPurchase] = c.hist.Last.UTC().Format("2006-01-02")
	}
	// A repeat buyer's rhythm: the mean gap between first and last order,
	// and the next order expected one gap after the last.
	v[config.OutAvgDaysBetween], v[config.OutNextOrder] = "", "" // cleared when the customer has no rhythm (any more)
	if c.hist.Orders >= 2 && c.hist.Last.After(c.hist.First) {
		gap := c.hist.Last.Sub(c.hist.First) / time.Duration(c.hist.Orders-1)
		days := decimal.NewFromFloat(gap.Hours() / 24).Round(1)
		money[config.OutAvgDaysBetween] = days
		v[config.OutAvgDaysBetween] = days.StringFixed(1)
		v[config.OutNextOrder] = c.hist.Last.Add(gap).UTC().Format("2006-01-02")
	}
	v[config.OutTier] = c.tier
	v[config.OutRFMScore] = fmt.Sprintf("%d%d%d", c.rfm.R, c.rfm.F, c.rfm.M)
	v[config.OutRFMSegment] = c.rfm.Segment
	v[config.OutQuadrant] = c.quadrant
	v[config.OutChurnRisk] = c.churn
	v[config.OutConfidence] = c.confidence
	v[config.OutTrend] = string(c.trend.Direction)
	if c.trend.Direction == clv.TrendUnknown {
		v[config.OutTrend] = string(clv.TrendNew)
	}
	if c.trend.HasChange {
		v[config.OutTrendChange] = money[config.OutTrendChange].StringFixed(1)
	}
	v[config.OutModel] = model
	v[config.OutExplain] = explain(c, asOf)
	v[config.OutUpdatedAt] = asOf.UTC().Format(updatedAtLayout)
	if c.predVar > 0 {
		// Stored with the result, never written: the report sums them into
		// intervals on totals.
		v[ResultPredictedSD] = strconv.FormatFloat(math.Sqrt(c.predVar), 'f', 2, 64)
	}
	if c.predParamSD > 0 {
		v[ResultPredictedParamSD] = strconv.FormatFloat(c.predParamSD, 'f', 2, 64)
	}
	return contactOutput{ContactID: c.id, Values: v, Money: money}
}

// ResultPredictedSD is the key, in a stored result's values, of the
// standard deviation of the customer's predicted profit. It is not an
// output: nothing writes it to HubSpot.
const ResultPredictedSD = "predicted_sd"

// ResultPredictedParamSD is the key, in a stored result's values, of the
// standard deviation of the customer's predicted profit that comes from the
// fitted parameters' uncertainty (clv.Fitted.ParamSD). Every customer moves
// with the same parameters, so the report adds these up rather than in
// quadrature. It is not an output.
const ResultPredictedParamSD = "predicted_param_sd"

// updatedAtLayout is the time layout of the updated_at output.
const updatedAtLayout = "2006-01-02T15:04:05.000Z"

// explain is the short human-readable line written to clv_explain.
func explain(c *customer, asOf time.Time) string {
	s := fmt.Sprintf("R%d F%d M%d", c.rfm.R, c.rfm.F, c.rfm.M)
	if !c.hist.Last.IsZero() {
		days := int(asOf.Sub(c.hist.Last).Hours() / 24)
		s += fmt.Sprintf(" - last purchase %d days ago", days)
	}
	s += fmt.Sprintf(" - P(alive) %.2f - tier %s", c.pred.PAlive, c.tier)
	if c.flags.Has(clv.FlagFallback) {
		s += " - simple formulas"
	}
	return s
}

// roundStep rounds a money value to the write-back step (half away from
// zero) and formats it the way HubSpot number properties take it.
func roundStep(d, step decimal.Decimal) string {
	if step.IsZero() {
		return d.StringFixed(2)
	}
	return roundTo(d, step).StringFixed(max(int32(0), -step.Exponent()))
}

// roundTo rounds d to a multiple of step (to cents when step is zero).
func roundTo(d, step decimal.Decimal) decimal.Decimal {
	if step.IsZero() {
		return d.Round(2)
	}
	return d.Div(step).Round(0).Mul(step)
}

func round(f float64, places int) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	p := math.Pow(10, float64(places))
	return math.Round(f*p) / p
}
