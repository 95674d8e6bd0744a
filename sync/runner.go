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
	"time"

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
	// Progress, when set, is told how far each phase has come (total 0 when
	// unknown).
	Progress func(phase string, done, total int)
}

// RunOptions changes one run.
type RunOptions struct {
	Full       bool // force a full resync
	DryRun     bool // do everything except write to HubSpot
	MaxChanges string
	// SkipSetup skips creating missing output properties.
	SkipSetup bool
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
	Customers     int
	Model         string // the purchase model used, or "simple (fallback: ...)"
	FitNote       string
	Changed       int // contacts whose values changed
	Written       int // contacts HubSpot accepted
	Failed        int
	Skipped       int // contacts whose values did not change (or moved less than the threshold)
	ChangesByKey  map[string]int
	Transitions   map[string]int // "top -> middle": n
	Sample        []ChangeSample
	Warnings      int
	WarningSample []string
	APICalls      int64
	RateLimited   int64
	Setup         SetupResult
}

// ChangeSample is one contact's old and new values, for --dry-run output.
type ChangeSample struct {
	ContactID string
	Old, New  map[config.OutputKey]string
}

// ErrTooManyChanges is returned when a run would change more contacts than
// --max-changes allows.
var ErrTooManyChanges = errors.New("too many changes")

func (r *Runner) now() time.Time {
	if r.Clock != nil {
		return r.Clock().UTC()
	}
	return time.Now().UTC()
}

func (r *Runner) progress(phase string, done, total int) {
	if r.Progress != nil {
		r.Progress(phase, done, total)
	}
}

// Run performs one run and records it in the store's run log.
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
	run, err := r.Store.BeginRun(state.Run{Start: rep.Started, Mode: rep.Mode, DryRun: o.DryRun})
	if err != nil {
		return rep, err
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
		run.Outcome = state.OutcomeOK
		if err != nil {
			run.Outcome = state.OutcomeFailed
			if errors.Is(err, context.Canceled) {
				run.Outcome = state.OutcomeInterrupted
			}
			run.Error = err.Error()
		}
		run.APICalls, run.RateLimited = rep.APICalls, rep.RateLimited
		run.Counts = rep.counts()
		run.Warnings = rep.WarningSample
		// Record the outcome even when the run's context was cancelled.
		if ferr := r.Store.FinishRun(run); ferr != nil && err == nil {
			err = ferr
		}
		log.Info("run end", "outcome", run.Outcome, "mode", rep.Mode, "deals", rep.Pulled.Deals,
			"contacts", rep.Pulled.Contacts, "customers", rep.Customers, "changed", rep.Changed,
			"written", rep.Written, "failed", rep.Failed, "warnings", rep.Warnings,
			"api_calls", rep.APICalls, "rate_limited", rep.RateLimited, "duration", rep.Duration.Round(time.Millisecond),
			"pull", rep.Phases.Pull.Round(time.Millisecond), "compute", rep.Phases.Compute.Round(time.Millisecond),
			"write", rep.Phases.Write.Round(time.Millisecond))
	}()

	rules, err := r.dealRules(ctx)
	if err != nil {
		return rep, err
	}
	if !o.SkipSetup && !o.DryRun {
		if rep.Setup, err = Setup(ctx, r.Client.Properties, r.Config, false); err != nil {
			return rep, fmt.Errorf("set up output properties: %w", err)
		}
	}
	if plan.Full {
		log.Info("full sync", "reason", plan.Reason)
	}
	// Phase times are measured on the real clock: r.Clock may be fixed.
	t0 := time.Now()
	if err := r.pull(ctx, plan, rules, &rep); err != nil {
		return rep, err
	}
	// Each phase touches most of the state file; release its mapped pages
	// so they do not add up in the resident set (state.ReleaseMapped).
	r.releaseMapped()
	t1 := time.Now()
	rep.Phases.Pull = t1.Sub(t0)
	if err := r.compute(ctx, run.ID, rules, &rep); err != nil {
		return rep, err
	}
	r.releaseMapped()
	t2 := time.Now()
	rep.Phases.Compute = t2.Sub(t1)
	if err := r.writeBack(ctx, o, &rep); err != nil {
		return rep, err
	}
	r.releaseMapped()
	rep.Phases.Write = time.Since(t2)
	return rep, nil
}

func (r *Runner) releaseMapped() {
	if err := r.Store.ReleaseMapped(); err != nil {
		r.Logger.Debug("release mapped state pages", "err", err)
	}
}

func (rep *Summary) counts() map[string]int64 {
	return map[string]int64{
		"deals_pulled": int64(rep.Pulled.Deals), "contacts_pulled": int64(rep.Pulled.Contacts),
		"companies_pulled": int64(rep.Pulled.Companies),
		"deleted":          int64(rep.Pulled.Deleted), "merged": int64(rep.Pulled.Merged),
		"customers": int64(rep.Customers), "changed": int64(rep.Changed), "written": int64(rep.Written),
		"failed": int64(rep.Failed), "skipped": int64(rep.Skipped), "warnings": int64(rep.Warnings),
	}
}

// dealRules resolves the won stages (reading pipelines when "auto") and the
// deal mapping into the rules normalisation applies.
func (r *Runner) dealRules(ctx context.Context) (DealRules, error) {
	deals := r.Config.Deals
	var won map[string]bool
	if deals.WonStages.Auto {
		pipes, err := r.Client.Pipelines.List(ctx, "deals")
		if err != nil {
			return DealRules{}, fmt.Errorf("read deal pipelines for won_stages auto: %w", err)
		}
		won = map[string]bool{}
		for _, p := range pipes {
			for _, s := range p.Stages {
				if s.IsClosed && s.Probability >= 1 {
					won[p.ID+"/"+s.ID] = true
				}
			}
		}
	}
	return NewDealRules(r.Config, won), nil
}
