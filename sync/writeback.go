package sync

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	gosync "sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/state"
	"github.com/clvsync/clvsync/sync/config"
)

// contactOutput is everything computed for one contact, by output key.
type contactOutput struct {
	ContactID string
	Values    map[config.OutputKey]string          // value as HubSpot takes it
	Money     map[config.OutputKey]decimal.Decimal // money and number outputs, unrounded, for thresholds
}

// values returns the outputs keyed by name, as the store keeps them.
func (o contactOutput) values() map[string]string {
	out := make(map[string]string, len(o.Values))
	for k, v := range o.Values {
		out[string(k)] = v
	}
	return out
}

// Outputs that are written only together with a real change: on their own
// they would change every run (the explanation says "12 days ago") and make
// workflows fire on noise.
var companionOutputs = map[config.OutputKey]bool{
	config.OutExplain: true, config.OutUpdatedAt: true, config.OutPreviousTier: true, config.OutTierChangedAt: true, config.OutModel: true,
}

// totalParts are the outputs written together: the total is historical +
// predicted.
var totalParts = []config.OutputKey{config.OutHistorical, config.OutPredicted, config.OutTotal}

// update is one contact's pending write.
type update struct {
	ContactID string
	Props     map[string]string           // HubSpot property -> value
	Values    map[config.OutputKey]string // what will be recorded as written
	Old       map[config.OutputKey]string
	Since     map[string]time.Time
	// Prev is everything written to the contact before, which the values
	// recorded as written after this update extend.
	Prev map[string]string
	// Cause is why the contact changed: causeOrders, causeRefit, causeTime
	// or causeRepair.
	Cause string
}

// Causes of a contact's change, counted apart in the summary.
const (
	causeOrders = "orders" // its own orders changed
	causeRefit  = "refit"  // the model was fitted again this run
	causeTime   = "time"   // time passed: recency, P(alive), trend windows
	causeRepair = "repair" // HubSpot's values differed from what was written
)

// writeInput is what the write-back works from besides the stored results.
type writeInput struct {
	// dry holds a dry run's results, which are not stored.
	dry []state.Result
	// ids, when not nil, are the only customers this run computed (the
	// rest keep the values of the day's full computation; see basis.go).
	ids []string
	// leftOut are outputs HubSpot would reject: never sent.
	leftOut map[config.OutputKey]bool
	// repair lists contacts whose values in HubSpot differ from what was
	// written: everything is sent to them again.
	repair map[string]bool
}

// diff decides what to write for one contact, applying the damping rules:
// money is written rounded to write_back.rounding_step; a money or number
// change under write_back.min_change is not written unless a segment changes
// too; companion outputs ride along only with a real change.
func (r *Runner) diff(o contactOutput, prev state.Written, had bool, now time.Time, leftOut map[config.OutputKey]bool) (update, bool) {
	u := update{ContactID: o.ContactID, Values: map[config.OutputKey]string{}, Old: map[config.OutputKey]string{}, Since: map[string]time.Time{}, Prev: prev.Values}
	maps.Copy(u.Since, prev.Since)
	var changed, segmentChanged bool
	small := map[config.OutputKey]bool{}
	for _, def := range config.OutputDefs() {
		key := def.Key
		if companionOutputs[key] || r.Config.Property(key) == "" || leftOut[key] {
			continue
		}
		nv, ok := o.Values[key]
		if !ok {
			continue
		}
		ov, oldOK := prev.Values[string(key)]
		if had && oldOK && ov == nv {
			continue
		}
		if had && oldOK && def.Kind.Numeric() && r.belowThreshold(ov, o.Money[key]) {
			small[key] = true
			continue
		}
		if def.Kind == config.KindSegment {
			segmentChanged = true
			u.Since[string(key)] = now
		}
		u.Values[key] = nv
		u.Old[key] = ov
		changed = true
	}
	if !changed {
		return u, false
	}
	if segmentChanged {
		// A segment change carries the small money moves with it, so the
		// values a workflow sees are consistent with the new segment.
		for key := range small {
			u.Values[key] = o.Values[key]
			u.Old[key] = prev.Values[string(key)]
		}
	}
	// The total and its parts go together, so in HubSpot the total is
	// always historical + predicted.
	if slices.ContainsFunc(totalParts, func(k config.OutputKey) bool { _, ok := u.Values[k]; return ok }) {
		for _, key := range totalParts {
			if _, ok := u.Values[key]; !ok && small[key] {
				u.Values[key] = o.Values[key]
				u.Old[key] = prev.Values[string(key)]
			}
		}
	}
	prevTier := prev.Values[string(config.OutTier)]
	if _, ok := u.Values[config.OutTier]; ok && prevTier != "" {
		u.Values[config.OutPreviousTier] = prevTier
		u.Values[config.OutTierChangedAt] = now.Format("2006-01-02")
	} else if ok {
		u.Values[config.OutTierChangedAt] = now.Format("2006-01-02")
	}
	for _, key := range []config.OutputKey{config.OutExplain, config.OutUpdatedAt, config.OutModel} {
		if v, ok := o.Values[key]; ok {
			u.Values[key] = v
		}
	}
	u.Props = map[string]string{}
	for key, v := range u.Values {
		if prop := r.Config.Property(key); prop != "" && !leftOut[key] {
			u.Props[prop] = v
		}
	}
	if len(u.Props) == 0 {
		return u, false
	}
	return u, true
}

// belowThreshold reports whether new differs from the written old value by
// less than write_back.min_change (relative to the old value).
func (r *Runner) belowThreshold(old string, nv decimal.Decimal) bool {
	ov, err := decimal.NewFromString(old)
	if err != nil || r.Config.WriteBack.MinChange == 0 {
		return false
	}
	if ov.IsZero() {
		return nv.IsZero()
	}
	rel := nv.Sub(ov).Abs().Div(ov.Abs())
	return rel.LessThan(decimal.NewFromFloat(r.Config.WriteBack.MinChange))
}

// writeBack sends the changed values in batches and records what HubSpot
// accepted. It streams the stored results, so memory stays flat, and reads
// them twice: the first pass counts the changes and asks the circuit
// breaker and max_changes, and aborts before anything is sent when either
// refuses; the second sends them. A dry run stops after the first pass.
func (r *Runner) writeBack(ctx context.Context, o RunOptions, in writeInput, rep *Summary) error {
	now := r.now()
	rep.ChangesByKey = map[string]int{}
	rep.Transitions = map[string]int{}
	maxChanges := o.MaxChanges
	if maxChanges == "" {
		maxChanges = r.Config.WriteBack.MaxChanges
	}
	limit, share, err := config.ParseMaxChanges(maxChanges)
	if err != nil {
		return fmt.Errorf("--max-changes: %w", err)
	}
	failures, err := r.Store.Failures()
	if err != nil {
		return err
	}
	retry := map[string]bool{}
	for _, f := range failures {
		retry[f.ContactID] = true
	}
	// pending decides one contact's update from its result and what was
	// written to it before.
	pending := func(res state.Result, prev state.Written, had bool) (update, bool) {
		cause := changeCause(res, prev, rep.Refit != "")
		if in.repair[res.ContactID] {
			cause = causeRepair
		}
		if retry[res.ContactID] || in.repair[res.ContactID] {
			had = false // send everything again: the last attempt was not accepted, or HubSpot differs
		}
		u, ok := r.diff(outputFromResult(res), prev, had, now, in.leftOut)
		u.Cause = cause
		return u, ok
	}
	// each calls visit with every contact of this run, and send with those
	// that have a pending update.
	each := func(visit func(res state.Result, prev state.Written, had bool), send func(update) error) error {
		one := func(res state.Result, prev state.Written, had bool) error {
			if visit != nil {
				visit(res, prev, had)
			}
			if u, ok := pending(res, prev, had); ok {
				return send(u)
			}
			return nil
		}
		if in.dry != nil || o.DryRun {
			return r.eachDry(in.dry, one)
		}
		if in.ids != nil {
			return r.eachComputed(in.ids, rep.RunID, one)
		}
		return r.Store.ForEachResultWritten(func(res state.Result, prev state.Written, had bool) error {
			if res.RunID != rep.RunID {
				return nil // a contact no longer computed (no longer a customer)
			}
			return one(res, prev, had)
		})
	}
	total := 0
	brk := newBreaker(r.Config)
	err = each(func(res state.Result, prev state.Written, had bool) {
		total++
		brk.add(res, prev, had)
	}, func(u update) error {
		rep.note(u)
		return nil
	})
	if err != nil {
		return err
	}
	if in.ids != nil {
		// Only the changed customers were visited: the breaker's and
		// max_changes's shares are of every customer, as the day's full
		// computation counted them.
		total = rep.Customers
		brk.atLeast(r.breakerBase())
	} else if !o.DryRun {
		if err := r.saveBreakerBase(brk.base()); err != nil {
			return err
		}
	}
	rep.Skipped = total - rep.Changed
	r.nameSamples(rep)
	rep.Breaker = brk.decide(o.AcceptChanges)
	if len(rep.Breaker.Tripped) > 0 && !rep.Breaker.Accepted {
		r.Logger.Warn("circuit breaker tripped: nothing written", "rules", rep.Breaker.String(), "dry_run", o.DryRun)
		if !o.DryRun {
			return fmt.Errorf("%w: %s; nothing was written. Check the mapping and the portal (`clvsync validate`, `clvsync run --dry-run`); "+
				"if the change is intended, run `clvsync run --accept-changes` once", ErrBlocked, rep.Breaker)
		}
	}
	if (limit > 0 && rep.Changed > limit) || (share > 0 && float64(rep.Changed) > share*float64(max(total, 1))) {
		return fmt.Errorf("%w: %d of %d contacts would change, more than max_changes %s allows; check the mapping, then rerun with a higher --max-changes",
			ErrTooManyChanges, rep.Changed, total, maxChanges)
	}
	if o.DryRun || rep.Changed == 0 {
		return nil
	}
	size := r.Config.WriteBack.BatchSize
	snd := &sender{r: r, ctx: ctx, now: now, rep: rep, total: rep.Changed, slots: make(chan struct{}, writeConcurrency)}
	batch := make([]update, 0, size)
	err = each(nil, func(u update) error {
		batch = append(batch, u)
		if len(batch) == size {
			snd.start(batch)
			batch = make([]update, 0, size)
			return snd.failed()
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		snd.start(batch)
	}
	return errors.Join(err, snd.wait())
}

// eachComputed visits the results run computed of the customers ids with
// what was written to each before.
func (r *Runner) eachComputed(ids []string, run uint64, fn func(res state.Result, prev state.Written, had bool) error) error {
	for i, id := range ids {
		if i%lookupRelease == lookupRelease-1 {
			r.trimMapped()
		}
		res, ok, err := r.Store.Result(id)
		if err != nil {
			return err
		}
		if !ok || res.RunID != run {
			continue // not a customer
		}
		w, had, err := r.Store.Written(id)
		if err != nil {
			return err
		}
		if err := fn(res, w, had); err != nil {
			return err
		}
	}
	return nil
}

// eachDry visits a dry run's results with what was written to each
// contact before.
func (r *Runner) eachDry(results []state.Result, fn func(res state.Result, prev state.Written, had bool) error) error {
	written := map[string]state.Written{}
	if err := r.Store.ForEachWritten(func(w state.Written) error {
		written[w.ContactID] = w
		return nil
	}); err != nil {
		return err
	}
	for _, res := range results {
		w, had := written[res.ContactID]
		if err := fn(res, w, had); err != nil {
			return err
		}
	}
	return nil
}

// changeCause says why a contact's values may differ from what was written:
// its own orders (count, revenue or dates), else a refit this run, else
// time passing.
func changeCause(res state.Result, prev state.Written, refit bool) string {
	for _, key := range []config.OutputKey{config.OutOrders, config.OutHistoricalRevenue, config.OutLastPurchase, config.OutFirstPurchase} {
		if res.Values[string(key)] != prev.Values[string(key)] {
			return causeOrders
		}
	}
	if refit {
		return causeRefit
	}
	return causeTime
}

// note counts one contact's change in the summary.
func (rep *Summary) note(u update) {
	rep.Changed++
	switch u.Cause {
	case causeOrders:
		rep.ChangedBy.Orders++
	case causeRefit:
		rep.ChangedBy.Refit++
	case causeRepair:
		rep.ChangedBy.Repair++
	default:
		rep.ChangedBy.Time++
	}
	for key := range u.Values {
		if !companionOutputs[key] {
			rep.ChangesByKey[string(key)]++
		}
	}
	if nt, ok := u.Values[config.OutTier]; ok && nt != u.Old[config.OutTier] {
		from := u.Old[config.OutTier]
		if from == "" {
			from = "(none)"
		}
		rep.Transitions[from+" -> "+nt]++
	}
	if len(rep.Sample) < 10 {
		rep.Sample = append(rep.Sample, ChangeSample{ContactID: u.ContactID, Old: u.Old, New: u.Values})
	}
	if _, ok := u.Values[config.OutTotal]; ok {
		rep.Moves = append(rep.Moves, ChangeSample{ContactID: u.ContactID, Old: u.Old, New: u.Values})
		slices.SortStableFunc(rep.Moves, func(a, b ChangeSample) int { return totalMove(b).Cmp(totalMove(a)) })
		if len(rep.Moves) > 3 {
			rep.Moves = rep.Moves[:3]
		}
	}
}

// totalMove is how far a change moves the contact's CLV total.
func totalMove(c ChangeSample) decimal.Decimal {
	return money(c.New[config.OutTotal]).Sub(money(c.Old[config.OutTotal])).Abs()
}

// nameSamples fills in the names of the sampled contacts, so a person
// reading the summary recognises them.
func (r *Runner) nameSamples(rep *Summary) {
	for _, list := range [][]ChangeSample{rep.Sample, rep.Moves} {
		for i := range list {
			if r.companies() {
				if c, ok, err := r.Store.Company(list[i].ContactID); err == nil && ok {
					list[i].Name = c.Name
				}
				continue
			}
			if c, ok, err := r.Store.Contact(list[i].ContactID); err == nil && ok {
				list[i].Name = c.Name
				if c.Email != "" {
					list[i].Name = strings.TrimSpace(c.Name + " <" + c.Email + ">")
				}
			}
		}
	}
}

// writeConcurrency is how many write batches are in flight at once: one
// batch's answer is recorded in the store while the next is on the wire.
// The client's rate limiter still paces the calls.
const writeConcurrency = 4

// sender sends write batches concurrently and records what HubSpot
// accepted. Each batch is recorded on its own, after HubSpot answered it,
// so a run killed at any point has recorded exactly the accepted writes.
type sender struct {
	r     *Runner
	ctx   context.Context
	now   time.Time
	slots chan struct{}
	wg    gosync.WaitGroup
	mu    gosync.Mutex // guards rep, sent and err
	rep   *Summary
	total int // changes to send, for progress; 0 when unknown
	sent  int
	err   error
}

// start sends batch in the background once a slot is free.
func (s *sender) start(batch []update) {
	s.slots <- struct{}{}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.slots }()
		err := s.send(batch)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.sent += len(batch)
		s.r.progress("write", s.sent, s.total)
		if err != nil && s.err == nil {
			s.err = err
		}
	}()
}

// failed returns the first error of a finished batch, so the caller stops
// starting new ones.
func (s *sender) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// wait waits for every batch and returns the first error.
func (s *sender) wait() error {
	s.wg.Wait()
	return s.failed()
}

// outputFromResult rebuilds a contact's outputs from its stored result; the
// thresholds compare the values as written (rounded).
func outputFromResult(res state.Result) contactOutput {
	out := contactOutput{ContactID: res.ContactID, Values: make(map[config.OutputKey]string, len(res.Values)),
		Money: map[config.OutputKey]decimal.Decimal{}}
	for k, v := range res.Values {
		out.Values[config.OutputKey(k)] = v
	}
	for _, def := range config.OutputDefs() {
		if !def.Kind.Numeric() {
			continue
		}
		if d, err := decimal.NewFromString(res.Values[string(def.Key)]); err == nil {
			out.Money[def.Key] = d
		}
	}
	return out
}

// send writes one batch. A 400 that rejects the whole batch is bisected to
// isolate the records HubSpot refuses; 207 failures mark only those
// contacts. Nothing is recorded as written until HubSpot accepted it.
func (s *sender) send(batch []update) error {
	r, ctx, now := s.r, s.ctx, s.now
	inputs := make([]hubspot.UpdateInput, len(batch))
	for i, u := range batch {
		inputs[i] = hubspot.UpdateInput{ID: u.ContactID, Properties: u.Props}
	}
	res, err := r.objects().BatchUpdate(ctx, inputs)
	var apiErr *hubspot.APIError
	if err != nil && errors.As(err, &apiErr) && apiErr.StatusCode == 400 {
		if len(batch) == 1 {
			return s.recordFailures([]hubspot.RecordError{{ID: batch[0].ContactID, Category: apiErr.Category, Message: apiErr.Message}})
		}
		mid := len(batch) / 2
		if err := s.send(batch[:mid]); err != nil {
			return err
		}
		return s.send(batch[mid:])
	}
	if err != nil {
		return fmt.Errorf("write %d %s: %w", len(batch), r.unitOf().plural, err)
	}
	failed := map[string]bool{}
	for _, f := range res.Failed {
		failed[f.ID] = true
	}
	var written []state.Written
	for _, u := range batch {
		if failed[u.ContactID] {
			continue
		}
		vals := map[string]string{}
		maps.Copy(vals, u.Prev)
		for k, v := range u.Values {
			vals[string(k)] = v
		}
		written = append(written, state.Written{ContactID: u.ContactID, Values: vals, At: now, Since: u.Since})
	}
	// Recording them also clears their failures from earlier runs.
	if err := r.Store.PutWritten(written); err != nil {
		return err
	}
	s.mu.Lock()
	s.rep.Written += len(written)
	s.mu.Unlock()
	return s.recordFailures(res.Failed)
}

// recordFailures keeps failed contacts for the next run. A contact HubSpot
// no longer has (deleted, or merged away) is reconciled instead: folded into
// its survivor when HubSpot answers the old id with another record, removed
// otherwise, so it is never retried forever.
func (s *sender) recordFailures(fs []hubspot.RecordError) error {
	if len(fs) == 0 {
		return nil
	}
	r, ctx, now := s.r, s.ctx, s.now
	var keep []state.Failure
	var gone []string
	s.mu.Lock()
	for _, f := range fs {
		s.rep.Failed++
		if len(s.rep.WarningSample) < 200 {
			s.rep.WarningSample = append(s.rep.WarningSample, fmt.Sprintf("%s %s not written: %s %s", r.unitOf().kind, f.ID, f.Category, f.Message))
		}
	}
	s.mu.Unlock()
	for _, f := range fs {
		if f.Category == "OBJECT_NOT_FOUND" || f.Category == "MISSING" {
			gone = append(gone, f.ID)
			continue
		}
		keep = append(keep, state.Failure{ContactID: f.ID, Category: f.Category, Message: f.Message, At: now, Attempts: 1})
	}
	if len(gone) > 0 && r.companies() {
		// A company HubSpot no longer has was deleted or merged into a new
		// one; the next pull follows its deals to the survivor.
		if err := r.Store.DeleteCompanies(gone); err != nil {
			return err
		}
	} else if len(gone) > 0 {
		sort.Strings(gone)
		gone = slices.Compact(gone)
		objs, err := r.Client.Contacts.BatchRead(ctx, gone, contactProperties(r.Config))
		if err != nil {
			return fmt.Errorf("reconcile contacts HubSpot could not find: %w", err)
		}
		for _, o := range objs {
			if slices.Contains(gone, o.ID) {
				// It exists after all: keep it for a retry next run.
				gone = slices.DeleteFunc(gone, func(id string) bool { return id == o.ID })
				keep = append(keep, state.Failure{ContactID: o.ID, Category: "OBJECT_NOT_FOUND", Message: "not found when written, found when read back", At: now, Attempts: 1})
				continue
			}
			c := normalizeContact(r.Config, o)
			merged, _ := mergedInto(c, inList(gone).match)
			if err := r.fold(c, merged, true, &Summary{}); err != nil {
				return err
			}
			gone = slices.DeleteFunc(gone, inList(merged).is)
		}
		if err := r.Store.DeleteContacts(gone); err != nil {
			return err
		}
		if err := r.Store.ClearFailures(gone); err != nil {
			return err
		}
	}
	if len(keep) > 0 {
		return r.Store.PutFailures(keep)
	}
	return nil
}
