package sync

import (
	"context"
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/clvsync/clvsync/clv"
	"github.com/clvsync/clvsync/state"
	"github.com/clvsync/clvsync/sync/config"
)

// computeEnv is what every customer's computation of a run shares.
type computeEnv struct {
	asOf   time.Time
	unit   clv.TimeUnit
	margin decimal.Decimal
	cost   decimal.Decimal // per order
	step   decimal.Decimal // write_back.rounding_step
}

// customer builds the customer c with its orders and what was last
// written to it (its tier and since when).
func (env computeEnv) customer(c state.Contact, orders []clv.Order, w state.Written) *customer {
	cu := &customer{id: c.ID, created: c.CreatedAt, orders: orders,
		prevTier: w.Values[string(config.OutTier)], tierSince: w.Since[string(config.OutTier)]}
	cu.hist = clv.Historical(orders, env.margin, env.cost, env.asOf)
	cu.summary, _ = clv.Summarize(c.ID, orders, env.asOf, env.unit)
	return cu
}

func (r *Runner) computeEnv() (computeEnv, error) {
	cfg := r.Config
	env := computeEnv{asOf: r.now(), margin: decimal.NewFromFloat(cfg.Model.Margin)}
	env.unit, _ = clv.ParseTimeUnit(cfg.Model.TimeUnit)
	var err error
	if env.cost, err = cfg.Model.CostPerOrderAmount(); err != nil {
		return env, err
	}
	env.step, err = cfg.WriteBack.RoundingStepAmount()
	return env, err
}

// passChunk is how many customers a pass of computeAll holds at a time;
// every passRelease customers the state file pages mapped are released.
const (
	passChunk   = 2048
	passRelease = 512
)

// passes reads the customers of the store for computeAll's passes.
type passes struct {
	r     *Runner
	ctx   context.Context
	rules DealRules
	env   computeEnv
	total int // customers with deals, for progress (0: unknown)
}

func (r *Runner) newPasses(ctx context.Context, rules DealRules, env computeEnv) *passes {
	p := &passes{r: r, ctx: ctx, rules: rules, env: env}
	if r.Progress != nil {
		p.total = p.customers()
	}
	return p
}

// customers counts the customers with deals (0 when the store cannot).
func (p *passes) customers() int {
	if p.total > 0 {
		return p.total
	}
	if c, ok := p.r.Store.(interface{ CustomerCount() (int, error) }); ok {
		if n, err := c.CustomerCount(); err == nil {
			return n
		}
	}
	return 0
}

// each calls fn with the customers, in id order, passChunk at a time.
// Every customer of a run is a contact (or company) with orders, or one
// clvsync wrote values to before (its deals were lost or deleted: its values
// must come down). Pass n of 3 reports progress as the compute phase's n-th
// third.
func (p *passes) each(n int, fn func([]*customer) error) error {
	r, env := p.r, p.env
	chunk := make([]*customer, 0, passChunk)
	visited := 0
	progress := func() {
		if p.total > 0 {
			r.progress("compute", n*p.total+min(visited, p.total), 3*p.total)
		}
	}
	err := r.Store.ForEachCustomer(func(c state.Contact, deals []state.Deal) error {
		if err := p.ctx.Err(); err != nil {
			return err
		}
		if visited++; visited%256 == 0 {
			progress()
		}
		if visited%passRelease == 0 {
			// The written values' and the stored results' pages this
			// pass looks up or writes.
			r.trimMapped()
		}
		orders := r.orders(p.rules, c.ID, deals, env.asOf)
		// The last written tier is only needed to place the customer
		// (last pass), and whether anything was written only for a
		// contact without orders.
		var w state.Written
		if len(orders) == 0 || n == 2 {
			var had bool
			var err error
			if w, had, err = r.Store.Written(c.ID); err != nil {
				return err
			}
			if len(orders) == 0 && !had {
				return nil
			}
		}
		cu := env.customer(c, orders, w)
		if chunk = append(chunk, cu); len(chunk) == passChunk {
			if err := fn(chunk); err != nil {
				return err
			}
			chunk = make([]*customer, 0, passChunk)
		}
		return nil
	})
	if err == nil && len(chunk) > 0 {
		err = fn(chunk)
	}
	progress()
	return err
}

// population is what computeAll's first pass keeps of every customer for
// the model: the simple base's sums, the earliest purchase, the summaries
// of the buyers when a fit is due, and the subscribers' tenures for the
// subscription model.
type population struct {
	asOf          time.Time
	customers     int
	simple        *clv.SimpleBaseBuilder
	first         time.Time
	withSummaries bool
	summaries     []clv.Summary // buyers', when withSummaries
	tenures       []clv.Tenure  // subscription model
}

func (p *population) add(c *customer, model string) {
	p.customers++
	p.simple.Add(c.hist)
	if c.hist.Orders == 0 {
		return
	}
	if p.first.IsZero() || c.hist.First.Before(p.first) {
		p.first = c.hist.First
	}
	if p.withSummaries {
		s := c.summary
		s.ID = "" // the fit needs none, and each held its string: 8 MB at 300k contacts
		p.summaries = append(p.summaries, s)
	}
	if model == config.ModelSubscription {
		if t, ok := clv.SubscriptionTenure(c.orders, clv.Month, subscriptionGrace, p.asOf); ok {
			p.tenures = append(p.tenures, t)
		}
	}
}

// firstPass is computeAll's first pass: the population, with the buyers'
// summaries when a fit is due (withSummaries).
func (r *Runner) firstPass(p *passes, withSummaries bool) (*population, error) {
	cfg := r.Config
	pop := &population{asOf: p.env.asOf, withSummaries: withSummaries}
	if withSummaries {
		// Sized once: grown by append, the summaries (56 bytes a buyer)
		// were held twice while each growth copied them (at 300k contacts
		// the pass ended with 35 MB of heap for 14 MB of summaries). A
		// buyer is a customer with deals, so the count is an upper bound.
		pop.summaries = make([]clv.Summary, 0, p.customers())
	}
	simpleCfg := clv.DefaultSimpleConfig()
	simpleCfg.Period = cfg.Model.SimplePeriodMonths
	var err error
	if pop.simple, err = clv.NewSimpleBaseBuilder(simpleCfg, p.env.asOf); err != nil {
		return nil, fmt.Errorf("simple formulas: %w", err)
	}
	err = p.each(0, func(custs []*customer) error {
		for _, c := range custs {
			pop.add(c, cfg.Model.Type)
		}
		return nil
	})
	return pop, err
}

// rhythmOf is the base's buying rhythm, from the population's summaries or,
// when the pass did not keep them, from another pass.
func (r *Runner) rhythmOf(p *passes, pop *population) float64 {
	if pop.withSummaries {
		return clv.BuyingRhythm(pop.summaries)
	}
	var summaries []clv.Summary
	_ = p.each(0, func(custs []*customer) error {
		for _, c := range custs {
			if c.hist.Orders > 0 {
				summaries = append(summaries, c.summary)
			}
		}
		return nil
	})
	return clv.BuyingRhythm(summaries)
}

// keptPrediction is what computeAll keeps of one customer's prediction
// between its second and third pass (the model's floats, from which every
// money output is derived again the same way), with a hash of the
// customer's id to check the passes saw the same customers.
type keptPrediction struct {
	id    uint64
	pred  clv.Prediction
	band  band
	total decimal.Decimal // the customer's CLV, for the quadrant's median
}

func idHash(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()
}

// tierValue is the value c is ranked by into tiers (segments.tiers.basis).
func (r *Runner) tierValue(c *customer) decimal.Decimal {
	if r.Config.Segments.Tiers.Basis == clv.TierBasisPredicted {
		return c.predProf
	}
	return c.total
}

func rfmInput(c *customer) clv.RFMInput {
	return clv.RFMInput{ID: c.id, Last: c.hist.Last, Orders: c.hist.Orders, Revenue: c.hist.Revenue}
}

// exactMedian is the median of decimal values (the mean of the two middle
// ones for an even count), as clv.QuadrantThresholds takes it, from their
// float64 images (sorted here) and each, which reads every value again.
// A decimal's nearest float never reverses two values, so the middle
// values are among those whose image lies between the middle images, and
// the images below them count the values before: only that tie group is
// held exactly, one entry per distinct value. A float key is 8 bytes a
// customer where a decimal took about 64.
func exactMedian(images []float64, each func(func(decimal.Decimal) error) error) (decimal.Decimal, error) {
	slices.Sort(images)
	n := len(images)
	lo, hi := images[(n-1)/2], images[n/2]
	below, _ := slices.BinarySearch(images, lo) // images before lo's first
	// The tie group: each distinct value once, with how many customers have it.
	type value struct {
		d decimal.Decimal
		n int
	}
	var group []value
	index := map[string]int{}
	err := each(func(d decimal.Decimal) error {
		if f := d.InexactFloat64(); f < lo || f > hi {
			return nil
		}
		k := d.String()
		i, ok := index[k]
		if !ok {
			i, index[k] = len(group), len(group)
			group = append(group, value{d: d})
		}
		group[i].n++
		return nil
	})
	if err != nil {
		return decimal.Decimal{}, err
	}
	slices.SortFunc(group, func(a, b value) int { return a.d.Cmp(b.d) })
	// at returns the value at sorted position i (i >= below).
	at := func(i int) (decimal.Decimal, error) {
		pos := below
		for _, v := range group {
			if pos += v.n; i < pos {
				return v.d, nil
			}
		}
		return decimal.Decimal{}, fmt.Errorf("compute: the customers' CLVs changed between passes (the median's values were not read again); run again")
	}
	m, err := at(n / 2)
	if err != nil || n%2 == 1 {
		return m, err
	}
	m1, err := at(n/2 - 1)
	return m1.Add(m).Div(decimal.NewFromInt(2)), err
}
