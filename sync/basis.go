package sync

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/clvsync/clvsync/clv"
	"github.com/clvsync/clvsync/state"
	"github.com/clvsync/clvsync/sync/config"
)

// Work proportional to change. Computing every customer is O(portal) (about
// 40 s at 300k contacts), and between two runs of one day only the
// customers whose deals or records changed have new inputs. So a run
// computes everyone at most once a day (the first run of each UTC day, and
// any run that refits the model, changes the config, reconciles, resyncs,
// or follows a deletion or merge) and keeps a compute basis: the day, the
// model version, a fingerprint of the config and deal rules, the base's
// tier and RFM scales and quadrant thresholds, and the portfolio totals.
// Later runs that day compute only the customers the store marked dirty
// (state.Store.Dirty: every change to a deal marks its contacts and
// companies, before and after) plus those whose last write HubSpot refused,
// place them on the basis's scales, and move the totals by their change.
// Everyone else keeps the values of the day's full computation: within a
// day time moves predictions less than write_back.min_change, and the first
// run of the next day catches up.

// computeBasis is what the last full computation of a unit left for the
// runs after it.
type computeBasis struct {
	Day          string `json:"day"`  // UTC date of the full computation
	Hash         string `json:"hash"` // computeHash then
	ModelVersion int    `json:"model_version"`
	// RunID is the run of the full computation: a stored result from it or
	// later is a current customer's.
	RunID     uint64          `json:"run_id"`
	Customers int             `json:"customers"`
	Total     decimal.Decimal `json:"total"`
	Predicted decimal.Decimal `json:"predicted"`
	TopTotal  decimal.Decimal `json:"top_total"`
	// Tiers is every customer's tier value, sorted: a basis kept by this
	// release stores the values apart (tierValuesMeta) and TierValues
	// counts them; an older one has them in Tiers.
	Tiers      clv.TierScale   `json:"tiers"`
	TierValues int             `json:"tier_values,omitempty"`
	RFM        clv.RFMScale    `json:"rfm"`
	QuadCLV    decimal.Decimal `json:"quadrant_clv"`
	QuadMonths float64         `json:"quadrant_months"`
	// Pending is true from the full computation until its write-back
	// ended: a run killed or blocked in between computes everyone again.
	Pending bool `json:"pending,omitempty"`
}

// CurrentSince returns the run of the last full computation of the
// contacts' values (of the companies' with companies true): a stored result
// of that run or a later one is a current customer's, an older one a former
// customer's. It is 0 when no run kept a compute basis; then the newest
// run's results are the current ones.
func CurrentSince(meta func(key string) (string, error), companies bool) uint64 {
	key := contactsUnit.basisKey
	if companies {
		key = companiesUnit.basisKey
	}
	raw, err := meta(key)
	if err != nil || raw == "" {
		return 0
	}
	var b computeBasis
	if json.Unmarshal([]byte(raw), &b) != nil {
		return 0
	}
	return b.RunID
}

// scales is what segment decided of the whole base.
type scales struct {
	tiers      clv.TierScale
	rfm        clv.RFMScale
	quadCLV    decimal.Decimal
	quadMonths float64
}

// day is the UTC date of t, as computeBasis keeps it.
func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// computeHash fingerprints everything a customer's values are computed
// from besides its own records: the model, segment, deal and rounding
// settings and the won stages HubSpot's pipelines define.
func (r *Runner) computeHash(rules DealRules) string {
	cfg := r.Config
	b, err := json.Marshal(struct {
		Model       config.ModelConfig
		Segments    config.SegmentsConfig
		Deals       config.DealsConfig
		Attribution string
		Rounding    string
		Won         string
	}{cfg.Model, cfg.Segments, cfg.Deals, cfg.Attribution, cfg.WriteBack.RoundingStep, rules.wonKey})
	if err != nil {
		return "" // never equal to a stored hash: everyone is computed
	}
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// basisTotals is the part of a compute basis each part of a changed-only
// computation moves. It is kept under its own meta key (the basis key with
// totalsSuffix): the basis holds every customer's tier value (megabytes at
// 300k contacts), which the parts need not write again.
type basisTotals struct {
	RunID     uint64          `json:"run_id"` // the basis's
	Customers int             `json:"customers"`
	Total     decimal.Decimal `json:"total"`
	Predicted decimal.Decimal `json:"predicted"`
	TopTotal  decimal.Decimal `json:"top_total"`
}

// The meta keys kept beside the basis key: the totals, and the tier values
// as base64 of little-endian float64s (at 300k contacts 2.8 MB, where the
// JSON array took 5 MB and decoding it held four times that on the heap of
// every run that loaded the basis).
const (
	totalsSuffix = ".totals"
	tiersSuffix  = ".tiers"
)

func encodeFloats(fs []float64) string {
	b := make([]byte, 8*len(fs))
	for i, f := range fs {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(f))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// eachFloat decodes n floats from encodeFloats's text, a block at a time,
// handing each to fn.
func eachFloat(s []byte, n int, fn func(i int, f float64)) error {
	if err := floatsTextLen(s, n); err != nil {
		return err
	}
	dec := base64.NewDecoder(base64.StdEncoding, bytes.NewReader(s))
	var block [8 * 512]byte
	for i := 0; i < n; {
		m := min(n-i, len(block)/8)
		if _, err := io.ReadFull(dec, block[:8*m]); err != nil {
			return err
		}
		for j := range m {
			fn(i+j, math.Float64frombits(binary.LittleEndian.Uint64(block[8*j:])))
		}
		i += m
	}
	return nil
}

// floatsTextLen checks that s is as long as encodeFloats's text of n
// floats.
func floatsTextLen(s []byte, n int) error {
	if want := base64.StdEncoding.EncodedLen(8 * n); len(s) != want {
		return fmt.Errorf("%d bytes of text for %d values, want %d", len(s), n, want)
	}
	return nil
}

// encodedFloats reads encodeFloats's text of n floats one value at a time
// (clv.SortedValues): three floats are 24 bytes, 32 characters of base64,
// so value i is decoded from its group's 32 characters alone. The text
// must have been checked with eachFloat; a group that does not decode
// reads as NaN.
type encodedFloats struct {
	text []byte
	n    int
}

func (e encodedFloats) Len() int { return e.n }

func (e encodedFloats) At(i int) float64 {
	g := 32 * (i / 3)
	var group [24]byte
	if _, err := base64.StdEncoding.Decode(group[:], e.text[g:min(g+32, len(e.text))]); err != nil {
		return math.NaN()
	}
	return math.Float64frombits(binary.LittleEndian.Uint64(group[8*(i%3):]))
}

// loadBasis reads the unit's compute basis with its current totals, having
// checked that its tier values read back; ok is false when there is none
// or it cannot be read. The tier values stay in the state file (see
// withTiers): at 300k contacts they are 2 MB of floats.
func (r *Runner) loadBasis() (computeBasis, bool) {
	b, ok := r.basisHead()
	if !ok || b.TierValues == 0 {
		return b, ok
	}
	err := r.Store.ReadMeta(r.unitOf().basisKey+tiersSuffix, func(v []byte) error {
		return eachFloat(v, b.TierValues, func(int, float64) {})
	})
	if err != nil {
		r.Logger.Warn("compute basis tier values unreadable; computing every customer", "err", err)
		return computeBasis{}, false
	}
	return b, true
}

// withTiers runs fn with the basis's tier values: those it holds (a basis
// an older version kept, or computeAll's own), or else those the state
// file keeps, read in place within one read of them (fn must not touch the
// store).
func (r *Runner) withTiers(b computeBasis, fn func(clv.SortedValues) error) error {
	if b.Tiers.Values != nil || b.TierValues == 0 {
		return fn(clv.ValueSlice(b.Tiers.Values))
	}
	return r.Store.ReadMeta(r.unitOf().basisKey+tiersSuffix, func(v []byte) error {
		if err := floatsTextLen(v, b.TierValues); err != nil {
			return fmt.Errorf("compute basis tier values: %w", err)
		}
		return fn(encodedFloats{text: v, n: b.TierValues})
	})
}

// basisHead is loadBasis without the tier values (unless the basis was
// kept by a version that stored them in it), for what needs only its
// scalars.
func (r *Runner) basisHead() (computeBasis, bool) {
	key := r.unitOf().basisKey
	raw, err := r.Store.Meta(key)
	if err != nil || raw == "" {
		return computeBasis{}, false
	}
	var b computeBasis
	if err := json.Unmarshal([]byte(raw), &b); err != nil {
		r.Logger.Warn("compute basis unreadable; computing every customer", "err", err)
		return computeBasis{}, false
	}
	raw, err = r.Store.Meta(key + totalsSuffix)
	if err != nil || raw == "" {
		return b, true // kept by a version that stored the totals with the basis
	}
	var t basisTotals
	if err := json.Unmarshal([]byte(raw), &t); err != nil {
		r.Logger.Warn("compute basis totals unreadable; computing every customer", "err", err)
		return computeBasis{}, false
	}
	if t.RunID == b.RunID {
		b.Customers, b.Total, b.Predicted, b.TopTotal = t.Customers, t.Total, t.Predicted, t.TopTotal
	}
	return b, true
}

// meta is the basis as meta values: the basis, its tier values (when it
// holds them: a basis loadBasis read leaves them to the state file) and its
// totals.
func (b computeBasis) meta(key string) (map[string]string, error) {
	m, err := b.totalsMeta(key)
	if err != nil {
		return nil, err
	}
	values := b.Tiers.Values
	if values != nil || b.TierValues == 0 {
		b.TierValues = len(values)
		m[key+tiersSuffix] = encodeFloats(values)
	} // else the tier values stay as the state file keeps them (loadBasis)
	b.Tiers.Values = nil
	raw, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode the compute basis: %w", err)
	}
	m[key] = string(raw)
	return m, nil
}

// totalsMeta is the basis's totals alone as a meta value.
func (b computeBasis) totalsMeta(key string) (map[string]string, error) {
	raw, err := json.Marshal(basisTotals{RunID: b.RunID, Customers: b.Customers, Total: b.Total, Predicted: b.Predicted, TopTotal: b.TopTotal})
	if err != nil {
		return nil, fmt.Errorf("encode the compute basis totals: %w", err)
	}
	return map[string]string{key + totalsSuffix: string(raw)}, nil
}

// changedOnly returns the basis and the customers to compute when this run
// may compute only the changed ones (see above); ok is false when it must
// compute everyone.
func (r *Runner) changedOnly(rules DealRules, asOf time.Time, o RunOptions) (b computeBasis, ids []string, ok bool, err error) {
	b, ok = r.loadBasis()
	if !ok || b.Pending || b.Day != day(asOf) || b.Hash != r.computeHash(rules) {
		return b, nil, false, nil
	}
	if old, reason := r.modelDue(asOf, o); reason != "" || old.Version != b.ModelVersion {
		return b, nil, false, nil
	}
	ids, all, err := r.Store.Dirty()
	if err != nil || all {
		return b, nil, false, err
	}
	failures, err := r.Store.Failures()
	if err != nil {
		return b, nil, false, err
	}
	for _, f := range failures {
		ids = append(ids, f.ContactID) // retried: its values are sent again
	}
	slices.Sort(ids)
	if ids == nil {
		// Nobody to compute is not everyone: a nil list would send the
		// write-back and settle over every customer.
		ids = []string{}
	}
	return b, slices.Compact(ids), true, nil
}

// computeChanged computes the customers ids on the basis b: the stored
// model, the basis's scales, each customer's own history. It stores their
// results changedChunk customers at a time, each part in one transaction
// with the basis's totals moved by that part (and the results of customers
// who are no longer customers deleted), so a run killed between parts
// leaves totals that match the stored results; their dirty marks stay until
// the write-back ends (see settle). A dry run stores nothing and returns the
// results.
func (r *Runner) computeChanged(runID uint64, rules DealRules, o RunOptions, b computeBasis, ids []string, rep *Summary) ([]state.Result, error) {
	env, err := r.computeEnv()
	if err != nil {
		return nil, err
	}
	asOf := env.asOf
	m, _, err := loadModel(r.Store, r.unitOf().modelKey)
	if err != nil {
		return nil, err
	}
	rep.ModelVersion = m.Version
	// One part at a time: at 300k contacts, the 9,500 customers of a 1 %
	// change stored in one transaction held 55 MB of bbolt nodes and
	// mapped 160 MB of the state file.
	var (
		custs   []*customer
		part    []state.Result
		dropped []string
		dry     []state.Result
		zero    = r.value(nil, env.step)
	)
	computed := 0
	store := func() error {
		if err := r.predictWith(custs, m, env, rep); err != nil {
			return err
		}
		if err := r.segmentOn(custs, b, asOf, m.Rhythm, false); err != nil {
			return err
		}
		// Every customer read so far has left the totals with its stored
		// values; the part's join them with its new ones.
		v := r.value(custs, env.step)
		b.Total, b.Predicted, b.TopTotal = b.Total.Add(v.Total), b.Predicted.Add(v.Predicted), b.TopTotal.Add(v.topTotal)
		for _, c := range custs {
			out := r.outputs(c, rep.Model, env.step, asOf)
			part = append(part, state.Result{ContactID: c.id, Values: out.values(), CLV: c.total, Tier: c.tier, Segment: c.rfm.Segment})
		}
		computed += len(part)
		custs = custs[:0]
		if o.DryRun {
			dry = append(dry, part...)
		} else {
			meta, err := b.totalsMeta(r.unitOf().basisKey)
			if err != nil {
				return err
			}
			if err := r.Store.StoreComputed(runID, asOf, part, dropped, meta); err != nil {
				return err
			}
			r.trimMapped() // the pages its transaction touched
		}
		part, dropped = part[:0], dropped[:0]
		return nil
	}
	for i, id := range ids {
		// Each customer's lookups land on their own pages of the deals,
		// results, written and history buckets: at 300k, 9,500 of them
		// mapped 400 MB until released.
		if i%lookupRelease == lookupRelease-1 {
			r.trimMapped()
			r.progress("compute", i, len(ids))
		}
		c, deals, _, err := r.Store.Customer(id)
		if err != nil {
			return nil, err
		}
		res, hadRes, err := r.Store.Result(id)
		if err != nil {
			return nil, err
		}
		if hadRes && res.RunID >= b.RunID {
			// Its current values leave the totals; its new ones join
			// them when its part is stored.
			total, pred := money(res.Values[string(config.OutTotal)]), money(res.Values[string(config.OutPredicted)])
			b.Total, b.Predicted = b.Total.Sub(total), b.Predicted.Sub(pred)
			if res.Tier == zero.TopTier {
				b.TopTotal = b.TopTotal.Sub(total)
			}
			b.Customers--
		}
		w, had, err := r.Store.Written(id)
		if err != nil {
			return nil, err
		}
		orders := r.orders(rules, id, deals, asOf)
		if len(orders) == 0 && !had {
			// Not a customer (see compute): its result goes, or the next
			// run computing it would take its values out again.
			if hadRes {
				dropped = append(dropped, id)
			}
			continue
		}
		b.Customers++
		if custs = append(custs, env.customer(c, orders, w)); len(custs) == changedChunk {
			if err := store(); err != nil {
				return nil, err
			}
		}
	}
	if len(custs) > 0 || len(dropped) > 0 {
		if err := store(); err != nil {
			return nil, err
		}
	}
	r.progress("compute", len(ids), len(ids))
	rep.Customers, rep.Computed = b.Customers, computed
	rep.Value = b.value(zero)
	return dry, nil
}

// settle ends a run's computation once its write-back has ended: the dirty
// marks of the customers computed are cleared (all of them after a full
// computation, whose basis stops being pending). Until then a run killed or
// blocked leaves them for the next run, which computes and writes them
// again.
func (r *Runner) settle(runID uint64, ids []string) error {
	if ids != nil {
		return r.Store.FinishCompute(runID, r.now(), nil, ids, false, nil)
	}
	b, ok := r.loadBasis()
	if !ok || !b.Pending {
		return nil
	}
	b.Pending = false
	meta, err := b.meta(r.unitOf().basisKey)
	if err != nil {
		return err
	}
	return r.Store.FinishCompute(runID, r.now(), nil, nil, true, meta)
}

// changedChunk is how many customers computeChanged computes and stores at
// a time (a variable for tests). A part of 1,024 held 28 MB of heap at its
// store (the customers, their results, the transaction's bbolt nodes) and
// touched as much of the state file's pages; smaller parts make more
// commits, each writing bbolt's freelist again.
var changedChunk = 512

// lookupRelease is how many customers' point lookups a loop makes between
// releases of the state file's mapped pages.
const lookupRelease = 16

// value is the portfolio value the basis's totals make, in v's currency
// and top tier.
func (b computeBasis) value(v Value) Value {
	v.Total, v.Predicted, v.TopTierShare = b.Total, b.Predicted, 0
	if b.Total.IsPositive() {
		v.TopTierShare = b.TopTotal.Div(b.Total).InexactFloat64()
	}
	return v
}

// segmentOn segments the customers on the basis's scales: tiers and RFM
// scores placed among the base of the day's full computation (members of
// it when member is true: computeAll's own base), quadrants by its
// thresholds; churn risk and trends are each customer's own.
func (r *Runner) segmentOn(custs []*customer, b computeBasis, asOf time.Time, rhythm float64, member bool) error {
	sc := r.Config.Segments
	tcfg := r.Config.CLVTiers()
	qcfg, err := r.Config.CLVQuadrant()
	if err != nil {
		return err
	}
	churn := clv.ChurnRiskConfig{High: sc.Churn.High, Medium: sc.Churn.Medium}
	minStay := time.Duration(sc.Tiers.MinDaysInTier) * 24 * time.Hour
	score, err := b.RFM.Scorer(sc.RFM)
	if err != nil {
		return fmt.Errorf("segments.rfm: %w", err)
	}
	err = r.withTiers(b, func(values clv.SortedValues) error {
		place, err := clv.TierPlacerOn(values, tcfg, member)
		if err != nil {
			return fmt.Errorf("segments.tiers: %w", err)
		}
		for _, c := range custs {
			t := place(clv.TierInput{ID: c.id, Value: r.tierValue(c), Previous: c.prevTier})
			c.tier = stayInTier(c, t.Tier, asOf, minStay)
			c.rfm = score(rfmInput(c))
			c.quadrant = clv.QuadrantAt(quadrantInput(c, asOf), b.QuadCLV, b.QuadMonths, qcfg).Name
			c.churn = string(clv.ChurnRiskFor(churn, c.pred.PAlive, c.summary, rhythm))
		}
		return nil
	})
	if err != nil {
		return err
	}
	tr := clv.TrendConfig{Window: time.Duration(sc.Trend.WindowDays) * 24 * time.Hour, StableBand: sc.Trend.StableBand}
	for i, c := range custs {
		if i%lookupRelease == lookupRelease-1 {
			r.trimMapped()
		}
		hist, err := r.Store.History(c.id)
		if err != nil {
			return err
		}
		if err := trendOf(c, hist, asOf, tr); err != nil {
			return err
		}
	}
	return nil
}
