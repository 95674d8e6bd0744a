// Package sync runs one clvsync job: pull what changed in HubSpot into the
// state store, compute CLV and segments per contact, and write back only the
// values that changed. It owns orchestration only: HTTP details live in
// hubspot, persistence in state, and the math in clv.
package sync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/shopspring/decimal"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/state"
	"github.com/clvsync/clvsync/sync/config"
)

// Runner runs the job. Build it once and call Run for each scheduled run.
type Runner struct {
	// Client is the HubSpot API (NewHubSpot(client) in production).
	Client HubSpot
	// Store is the state file (a *state.Store in production).
	Store  Store
	Config config.Config
	Logger *slog.Logger
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// PullGCPercent, when positive, is the garbage collector's target
	// percentage (GOGC) while a full sync lists deals and reads their
	// contacts. That garbage is decode buffers and records in flight, so
	// collecting less often cuts the listing's CPU per request (3.35 to
	// 2.65 ms at 30,000 contacts with 300); a soft memory limit of
	// pullHeadroom above where the listing began bounds what it costs in
	// memory. clvsync sets 300 unless GOGC is set; 0 leaves the collector
	// as it is.
	PullGCPercent int
	// ComputeGCPercent, when positive, is the collector's target while a
	// full computation gathers the model's inputs, fits its model,
	// predicts, ranks and stores its customers, and while an incremental
	// one computes the customers that changed. Its live heap is then the
	// fit's summaries or the scales' keys (a few tens of bytes a customer,
	// free of pointers, so cheap to mark) and its garbage a chunk of
	// customers or a fit's working arrays at a time: at the default 100 the
	// heap grew to twice the keys before a collection. When it is
	// positive, an incremental run also runs under a soft memory limit
	// (boundRun). clvsync sets 25 unless GOGC is set; 0 leaves the
	// collector as it is.
	ComputeGCPercent int
	// Progress, when set, is told how far each phase has come (total 0 when
	// unknown).
	Progress func(phase string, done, total int)

	// totals are the phase totals known before a phase starts (set at the
	// start of a run, read-only after).
	totals map[string]int
	// unit is the customer unit of the compute and write-back phases; nil
	// means contacts (companyPass sets companies).
	unit *customerUnit
	// outerLimit is the memory limit boundRun replaced (0 when it set
	// none), for a computation of everyone to lift the bound.
	outerLimit int64
}

// RunOptions changes one run.
type RunOptions struct {
	Full bool // force a full resync
	// DryRun does everything except write to HubSpot, and leaves no trace
	// in the state file's history, results, run log or model.
	DryRun     bool
	MaxChanges string
	// SkipSetup skips creating missing output properties.
	SkipSetup bool
	// Refit fits the model again now (`run --refit`).
	Refit bool
	// AcceptChanges lets this run write what the circuit breaker would
	// refuse (`run --accept-changes`).
	AcceptChanges bool
	// Reconcile reads the outputs back from HubSpot and rewrites every
	// contact whose values differ from what clvsync last wrote (`run
	// --reconcile`; full resyncs always do).
	Reconcile bool
	// Deals and Contacts are re-read by id before the incremental pull:
	// the records webhook events named (serve's real-time path).
	Deals, Contacts []string
}

// Summary says what a run did. It is the run's own account, printed by
// `clvsync run` and kept in the run log; the business CLV report is the
// sync/report package.
type Summary struct {
	RunID   uint64
	Mode    string // full | incremental
	Reason  string
	DryRun  bool
	Started time.Time
	// Ended is when the run finished on the runner's clock: the same
	// instant as the run log's end time.
	Ended    time.Time
	Duration time.Duration
	Pulled   struct {
		Deals, Contacts, Companies, Deleted, Merged int
	}
	// Phases is the wall time of each phase, on the real clock.
	Phases struct {
		Pull, Compute, Write time.Duration
	}
	Customers int
	// Computed counts the customers whose values this run computed: every
	// customer on a full computation, else those whose inputs changed
	// (see compute).
	Computed int
	Model    string // the model used: a purchase model, subscription or simple
	FitNote  string
	// ModelVersion is the stored model's version; Refit says why this run
	// fitted it ("" when it predicted with the stored one).
	ModelVersion int
	Refit        string
	Changed      int // contacts whose values changed
	// ChangedBy splits Changed by cause: the contact's own orders, a refit
	// of the model, or time passing (recency, P(alive), trend windows).
	ChangedBy struct{ Orders, Refit, Time, Repair int }
	// Repaired counts contacts whose values in HubSpot differed from what
	// clvsync last wrote (hand edits, a restored portal); they are rewritten.
	Repaired int
	Breaker  BreakerDecision
	// LeftOut lists the output properties HubSpot would reject (wrong type,
	// read-only): they were left out of every write, and the run fails.
	LeftOut      config.Problems
	Written      int // contacts HubSpot accepted
	Failed       int
	Skipped      int // contacts whose values did not change (or moved less than the threshold)
	ChangesByKey map[string]int
	Transitions  map[string]int // "top -> middle": n
	Sample       []ChangeSample
	// Moves are the contacts whose CLV total moves most (at most three).
	Moves         []ChangeSample
	Value         Value
	Warnings      int
	WarningSample []string
	APICalls      int64
	RateLimited   int64
	Setup         SetupResult
	// Companies is the company pass's own account (companies: true): its
	// customers, model, changes, breaker and writes. Nil when companies
	// are off.
	Companies *Summary
}

// Value is what the customers are worth after a run, as computed (money
// rounded as written): the business headline of a run's summary.
type Value struct {
	Currency         string
	Total, Predicted decimal.Decimal
	// TopTier is the first tier's name; TopTierShare the share of the total
	// its customers hold.
	TopTier      string
	TopTierShare float64
	topTotal     decimal.Decimal // the top tier's part of Total
}

// ChangeSample is one contact's old and new values, for --dry-run output.
type ChangeSample struct {
	ContactID string
	// Name is the contact's name or email, when stored.
	Name     string
	Old, New map[config.OutputKey]string
}

// Errors a run returns besides HubSpot's and the store's.
var (
	// ErrTooManyChanges: the run would change more contacts than
	// --max-changes allows.
	ErrTooManyChanges = errors.New("too many changes")
	// ErrBlocked: the circuit breaker refused to write (outcome blocked).
	ErrBlocked = errors.New("blocked by the circuit breaker")
	// ErrPartial: HubSpot refused some writes, no more than
	// write_back.max_failed_share (outcome partial).
	ErrPartial = errors.New("some writes failed")
	// ErrWritesFailed: HubSpot refused more writes than
	// write_back.max_failed_share (outcome failed).
	ErrWritesFailed = errors.New("too many writes failed")
	// ErrOutputsLeftOut: some output properties cannot take clvsync's
	// values and were left out of the writes (outcome failed).
	ErrOutputsLeftOut = errors.New("output properties left out")
	// ErrPanic: the run panicked; the stack is in the log.
	ErrPanic = errors.New("internal error")
)

// Outcome is the run log's outcome for a run that ended with err.
func Outcome(err error) state.Outcome {
	switch {
	case err == nil:
		return state.OutcomeOK
	case errors.Is(err, ErrBlocked):
		return state.OutcomeBlocked
	case errors.Is(err, ErrPartial):
		return state.OutcomePartial
	case errors.Is(err, context.Canceled):
		return state.OutcomeInterrupted
	}
	return state.OutcomeFailed
}

func (r *Runner) now() time.Time {
	if r.Clock != nil {
		return r.Clock().UTC()
	}
	return time.Now().UTC()
}

func (r *Runner) progress(phase string, done, total int) {
	if r.Progress != nil {
		if total <= 0 {
			total = r.totals[phase]
		}
		r.Progress(phase, done, total)
	}
}

// knownTotals asks, only when progress is shown, for the totals a phase
// cannot know itself: a full listing's deal count (one search of one
// result; HubSpot's list endpoint gives no total) and the contacts stored.
func (r *Runner) knownTotals(ctx context.Context, full bool) map[string]int {
	totals := map[string]int{}
	if r.Progress == nil {
		return totals
	}
	if s, ok := r.Client.Deals.(interface {
		Search(ctx context.Context, req hubspot.SearchRequest) (*hubspot.SearchPage, error)
	}); ok && full {
		if page, err := s.Search(ctx, hubspot.SearchRequest{Limit: 1}); err == nil {
			totals["pull"] = page.Total
		}
	}
	return totals
}

// Run performs one run and records it in the store's run log (a dry run
// is not recorded). A panic inside the run is recovered and returned as an
// error wrapping ErrPanic, its stack logged.
func (r *Runner) Run(ctx context.Context, o RunOptions) (rep Summary, err error) {
	if r.Logger == nil {
		r.Logger = slog.New(slog.DiscardHandler)
	}
	before := r.Client.stats()
	rep.Started = r.now()
	rep.DryRun = o.DryRun
	plan, err := r.plan(o.Full)
	if err != nil {
		return rep, err
	}
	rep.Mode, rep.Reason = "incremental", plan.Reason
	if plan.Full {
		rep.Mode = "full"
	}
	run := state.Run{Start: rep.Started, Mode: rep.Mode, DryRun: o.DryRun}
	if !o.DryRun {
		if run, err = r.Store.BeginRun(run); err != nil {
			return rep, err
		}
	}
	rep.RunID = run.ID
	log := r.Logger.With("run_id", run.ID)
	log.Info("run start", "mode", rep.Mode, "reason", plan.Reason, "dry_run", o.DryRun)
	defer func() {
		after := r.Client.stats()
		rep.APICalls = after.Calls - before.Calls
		rep.RateLimited = after.RateLimited - before.RateLimited
		run.End = r.now()
		rep.Ended = run.End
		rep.Duration = run.End.Sub(rep.Started)
		run.Outcome = Outcome(err)
		if err != nil {
			run.Error = err.Error()
		}
		run.APICalls, run.RateLimited = rep.APICalls, rep.RateLimited
		run.Counts = rep.counts()
		run.Warnings = rep.WarningSample
		run.Model = rep.modelLine()
		// Record the outcome even when the run's context was cancelled.
		if !o.DryRun {
			if ferr := r.Store.FinishRun(run); ferr != nil && err == nil {
				err = ferr
			}
		}
		log.Info("run end", "outcome", run.Outcome, "mode", rep.Mode, "deals", rep.Pulled.Deals,
			"contacts", rep.Pulled.Contacts, "customers", rep.Customers, "changed", rep.Changed,
			"written", rep.Written, "failed", rep.Failed, "warnings", rep.Warnings,
			"api_calls", rep.APICalls, "rate_limited", rep.RateLimited, "duration", rep.Duration.Round(time.Millisecond),
			"pull", rep.Phases.Pull.Round(time.Millisecond), "compute", rep.Phases.Compute.Round(time.Millisecond),
			"write", rep.Phases.Write.Round(time.Millisecond))
	}()
	defer func() {
		if p := recover(); p != nil {
			log.Error("run panicked; recorded as failed", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("%w: %v (the stack is in the log; please report it)", ErrPanic, p)
		}
	}()
	return rep, r.run(ctx, o, plan, run.ID, log, &rep)
}

// run is one run's phases: check the mapping against the portal, set up
// the outputs, pull, compute, write back.
func (r *Runner) run(ctx context.Context, o RunOptions, plan pullPlan, runID uint64, log *slog.Logger, rep *Summary) error {
	pipes, leftOut, err := r.preflight(ctx, o, rep)
	if err != nil {
		return err
	}
	rules := r.dealRules(pipes)
	if !o.SkipSetup && !o.DryRun {
		if rep.Setup, err = Setup(ctx, r.Client.Properties, r.Config, false); err != nil {
			return fmt.Errorf("set up output properties: %w", err)
		}
	}
	if plan.Full {
		log.Info("full sync", "reason", plan.Reason)
	}
	r.totals = r.knownTotals(ctx, plan.Full)
	if !plan.Full {
		defer r.boundRun()()
	}
	// Phase times are measured on the real clock: r.Clock may be fixed.
	t0 := time.Now()
	if !plan.Full && len(o.Deals)+len(o.Contacts) > 0 {
		if err := r.pullIDs(ctx, o.Deals, o.Contacts, rules, rep); err != nil {
			return err
		}
	}
	if err := r.pull(ctx, plan, rules, rep); err != nil {
		return err
	}
	// Each phase touches most of the state file; release its mapped pages
	// so they do not add up in the resident set (state.ReleaseMapped).
	r.releaseMapped()
	rep.Phases.Pull = time.Since(t0)
	if err := r.computeAndWrite(ctx, o, plan, runID, rules, leftOut, rep); err != nil {
		return err
	}
	err = r.verdict(rep)
	if r.Config.Companies {
		err = errors.Join(err, r.companyPass(ctx, o, plan, runID, rules, rep))
	}
	return err
}

// computeAndWrite is a run's compute and write phases for the runner's
// customer unit: compute every customer's values, read HubSpot's values
// back on full resyncs and --reconcile, and write what changed, timing each
// phase on the real clock into rep and releasing the state file's mapped
// pages after each, like the pull.
func (r *Runner) computeAndWrite(ctx context.Context, o RunOptions, plan pullPlan, runID uint64, rules DealRules,
	leftOut map[config.OutputKey]bool, rep *Summary) error {
	t0 := time.Now()
	dry, ids, err := r.compute(ctx, runID, rules, o, plan.Full, rep)
	if err != nil {
		return err
	}
	r.releaseMapped()
	t1 := time.Now()
	rep.Phases.Compute = t1.Sub(t0)
	var repair map[string]bool
	if plan.Full || o.Reconcile {
		if repair, err = r.reconcile(ctx, leftOut, rep); err != nil {
			return err
		}
	}
	err = r.writeBack(ctx, o, writeInput{dry: dry, ids: ids, leftOut: leftOut, repair: repair}, rep)
	if !o.DryRun {
		// Even a failed write-back's writes are read back by the next run.
		err = errors.Join(err, r.noteWritten(rep.Written))
	}
	if err != nil {
		return err
	}
	if !o.DryRun {
		if err := r.settle(runID, ids); err != nil {
			return err
		}
	}
	r.releaseMapped()
	rep.Phases.Write = time.Since(t1)
	return nil
}

// verdict turns what the write-back met into the run's outcome: refused
// writes make it partial (or failed past write_back.max_failed_share), and
// outputs left out make it failed.
func (r *Runner) verdict(rep *Summary) error {
	var errs []error
	if len(rep.LeftOut) > 0 {
		errs = append(errs, fmt.Errorf("%w: %w", ErrOutputsLeftOut, rep.LeftOut))
	}
	if rep.Failed > 0 {
		tried := rep.Written + rep.Failed
		share := r.Config.WriteBack.MaxFailedShare
		if float64(rep.Failed) > share*float64(tried) {
			errs = append(errs, fmt.Errorf("%w: HubSpot refused %d of %d %s writes, more than write_back.max_failed_share %g; `clvsync runs --last` lists them",
				ErrWritesFailed, rep.Failed, tried, r.unitOf().kind, share))
		} else {
			partial := ErrPartial
			if len(errs) > 0 {
				partial = errors.New("some writes failed") // the run failed already
			}
			errs = append(errs, fmt.Errorf("%w: HubSpot refused %d of %d %s writes; they are retried next run, `clvsync runs --last` lists them",
				partial, rep.Failed, tried, r.unitOf().kind))
		}
	}
	return errors.Join(errs...)
}

// modelLine is the run log's model entry.
func (rep *Summary) modelLine() string {
	if rep.ModelVersion == 0 {
		return ""
	}
	s := fmt.Sprintf("%s v%d", rep.Model, rep.ModelVersion)
	if rep.Refit != "" {
		s += " refitted (" + rep.Refit + "): " + rep.FitNote
	}
	return s
}

// boundRun starts an incremental run's bound on memory, when the runner
// manages the collector (ComputeGCPercent): it hands the freed heap back
// to the system and sets a soft memory limit of runHeadroom above what the
// runtime then holds (or leaves a lower GOMEMLIMIT), and returns what lifts
// it. Such a run's live heap is a page of records or a part of customers at
// a time, whatever the portal's size; what grew with the portal was the
// freed heap the runtime kept between collections (up to 12 MB at 300k
// contacts, 1-3 MB at 100k). A computation of everyone (the day's first
// run) lifts the bound while it runs (see compute).
func (r *Runner) boundRun() (lift func()) {
	if r.ComputeGCPercent <= 0 {
		return func() {}
	}
	debug.FreeOSMemory()
	restore, outer := limitMemoryAbove(runHeadroom)
	r.outerLimit = outer
	return func() {
		restore()
		r.outerLimit = 0
	}
}

// runHeadroom is how far an incremental run's Go memory may grow above
// where it began before the collector works harder to keep it there. At
// 12 MB the 300k bench's peaks did not fall further (60/59/57 MB against
// 59/59/58) and its steady run's CPU rose 23 -> 27 s, past 30 s of wall.
const runHeadroom = 16 << 20

// trimMapped is releaseMapped for loops: it releases only above the
// store's budget of resident mapped pages (state.Store.TrimMapped).
func (r *Runner) trimMapped() {
	if err := r.Store.TrimMapped(); err != nil {
		r.Logger.Debug("trim mapped state pages", "err", err)
	}
}

func (r *Runner) releaseMapped() {
	if err := r.Store.ReleaseMapped(); err != nil {
		r.Logger.Debug("release mapped state pages", "err", err)
	}
}

func (rep *Summary) counts() map[string]int64 {
	n := rep.unitCounts()
	if c := rep.Companies; c != nil {
		n["companies"], n["companies_changed"], n["companies_written"] = int64(c.Customers), int64(c.Changed), int64(c.Written)
		n["companies_failed"], n["companies_computed"] = int64(c.Failed), int64(c.Computed)
	}
	return n
}

func (rep *Summary) unitCounts() map[string]int64 {
	return map[string]int64{
		"deals_pulled": int64(rep.Pulled.Deals), "contacts_pulled": int64(rep.Pulled.Contacts),
		"companies_pulled": int64(rep.Pulled.Companies),
		"deleted":          int64(rep.Pulled.Deleted), "merged": int64(rep.Pulled.Merged),
		"customers": int64(rep.Customers), "computed": int64(rep.Computed), "changed": int64(rep.Changed), "written": int64(rep.Written),
		"failed": int64(rep.Failed), "skipped": int64(rep.Skipped), "warnings": int64(rep.Warnings),
		"changed_by_orders": int64(rep.ChangedBy.Orders), "changed_by_refit": int64(rep.ChangedBy.Refit),
		"changed_by_time": int64(rep.ChangedBy.Time), "repaired": int64(rep.Repaired),
	}
}

// dealRules resolves the won stages (from the portal's pipelines when
// "auto") and the deal mapping into the rules normalisation applies.
func (r *Runner) dealRules(pipes []hubspot.Pipeline) DealRules {
	var won map[string]bool
	if r.Config.Deals.WonStages.Auto {
		won = map[string]bool{}
		for _, p := range pipes {
			for _, s := range p.Stages {
				if s.IsClosed && s.Probability >= 1 {
					won[p.ID+"/"+s.ID] = true
				}
			}
		}
	}
	return NewDealRules(r.Config, won)
}
