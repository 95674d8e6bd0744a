package sync

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/clvsync/clvsync/state"
	"github.com/clvsync/clvsync/sync/config"
)

// BreakerRule is one rule of the circuit breaker as one run measured it:
// Count of Of contacts concerned would change in the way the rule watches,
// a Share that may not exceed Limit.
type BreakerRule struct {
	// Name is the rule's config key under write_back.breaker.
	Name      string
	What      string
	Count, Of int
	Share     float64
	Limit     float64
	Tripped   bool
}

func (b BreakerRule) String() string {
	return fmt.Sprintf("%s: %d of %d %s (%.1f%%, limit %.0f%%)", b.Name, b.Count, b.Of, b.What, 100*b.Share, 100*b.Limit)
}

// BreakerDecision is what the circuit breaker decided before a run wrote:
// the rules it measured and those over their limit. Accepted says the run
// wrote anyway (`run --accept-changes`).
type BreakerDecision struct {
	Enabled  bool
	Rules    []BreakerRule
	Tripped  []BreakerRule
	Accepted bool
}

func (d BreakerDecision) String() string {
	if !d.Enabled {
		return "circuit breaker off (write_back.breaker.enabled: false)"
	}
	if len(d.Tripped) == 0 {
		return "circuit breaker: no rule tripped"
	}
	parts := make([]string, len(d.Tripped))
	for i, r := range d.Tripped {
		parts[i] = r.String()
	}
	s := "circuit breaker tripped: " + strings.Join(parts, "; ")
	if d.Accepted {
		s += " (accepted with --accept-changes)"
	}
	return s
}

// breaker compares, over every contact of a run, what the run would write
// with what clvsync wrote before (what HubSpot holds, unless edited by hand,
// which reconciling repairs): tier moves, money values going to zero,
// customers losing all their orders, CLV totals collapsing.
type breaker struct {
	cfg        config.BreakerConfig
	tierOn     bool
	money      []config.OutputKey
	tiered     int // contacts with a tier
	tierMoves  int
	nonZero    int // non-zero money values
	zeroed     int
	withOrders int // contacts with orders
	lost       int
	withTotal  int // contacts with a non-zero total
	halved     int
}

func newBreaker(cfg config.Config) *breaker {
	b := &breaker{cfg: cfg.WriteBack.Breaker, tierOn: cfg.Property(config.OutTier) != ""}
	for _, def := range config.OutputDefs() {
		if def.Kind == config.KindMoney && cfg.Property(def.Key) != "" {
			b.money = append(b.money, def.Key)
		}
	}
	return b
}

// add counts one contact: res is what the run would write, prev what was
// written before (had is false when nothing was).
func (b *breaker) add(res state.Result, prev state.Written, had bool) {
	if !had {
		return
	}
	old, nv := prev.Values, res.Values
	if b.tierOn && old[string(config.OutTier)] != "" {
		b.tiered++
		if nv[string(config.OutTier)] != old[string(config.OutTier)] {
			b.tierMoves++
		}
	}
	for _, key := range b.money {
		if o := money(old[string(key)]); !o.IsZero() {
			b.nonZero++
			if money(nv[string(key)]).IsZero() {
				b.zeroed++
			}
		}
	}
	if n := money(old[string(config.OutOrders)]); n.IsPositive() {
		b.withOrders++
		if !money(nv[string(config.OutOrders)]).IsPositive() {
			b.lost++
		}
	}
	if t := money(old[string(config.OutTotal)]); t.IsPositive() {
		b.withTotal++
		if money(nv[string(config.OutTotal)]).LessThanOrEqual(t.Div(decimal.NewFromInt(2))) {
			b.halved++
		}
	}
}

// money parses a written value; blank and unparsable values are zero.
func money(s string) decimal.Decimal {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Zero
	}
	return d
}

// breakerBase is what a breaker counted of every customer: the sizes of
// the rules' populations.
type breakerBase struct {
	Tiered, NonZero, WithOrders, WithTotal int
}

func (b *breaker) base() breakerBase {
	return breakerBase{Tiered: b.tiered, NonZero: b.nonZero, WithOrders: b.withOrders, WithTotal: b.withTotal}
}

// atLeast raises the rules' populations to base's: a run that visits only
// the changed customers measures its changes against every customer.
func (b *breaker) atLeast(base breakerBase) {
	b.tiered, b.nonZero = max(b.tiered, base.Tiered), max(b.nonZero, base.NonZero)
	b.withOrders, b.withTotal = max(b.withOrders, base.WithOrders), max(b.withTotal, base.WithTotal)
}

// breakerBase reads the breaker's base counts of the last run that visited
// every customer (zero when none did).
func (r *Runner) breakerBase() breakerBase {
	var b breakerBase
	if raw, err := r.Store.Meta(r.unitOf().breakerKey); err == nil && raw != "" {
		_ = json.Unmarshal([]byte(raw), &b) // unreadable: no floor, the subset's own counts
	}
	return b
}

func (r *Runner) saveBreakerBase(b breakerBase) error {
	raw, err := json.Marshal(b)
	if err != nil {
		return err
	}
	return r.Store.SetMeta(r.unitOf().breakerKey, string(raw))
}

func (b *breaker) decide(accept bool) BreakerDecision {
	d := BreakerDecision{Enabled: b.cfg.Enabled}
	if !b.cfg.Enabled {
		return d
	}
	for _, r := range []BreakerRule{
		{Name: "max_tier_moves", What: "tiered contacts would change tier", Count: b.tierMoves, Of: b.tiered, Limit: b.cfg.MaxTierMoves},
		{Name: "max_zeroed", What: "non-zero CLV values would become 0 or blank", Count: b.zeroed, Of: b.nonZero, Limit: b.cfg.MaxZeroed},
		{Name: "max_lost_customers", What: "customers with orders would have none", Count: b.lost, Of: b.withOrders, Limit: b.cfg.MaxLostCustomers},
		{Name: "max_halved", What: "contacts' CLV totals would fall by half or more", Count: b.halved, Of: b.withTotal, Limit: b.cfg.MaxHalved},
	} {
		if r.Of > 0 {
			r.Share = float64(r.Count) / float64(r.Of)
		}
		r.Tripped = r.Of >= b.cfg.MinContacts && r.Share > r.Limit
		d.Rules = append(d.Rules, r)
		if r.Tripped {
			d.Tripped = append(d.Tripped, r)
		}
	}
	d.Accepted = accept && len(d.Tripped) > 0
	return d
}
