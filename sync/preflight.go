package sync

import (
	"context"
	"errors"
	"fmt"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/sync/config"
)

// preflight checks, before anything is pulled or written, that the state
// file belongs to this portal and that the mapping still fits the portal:
// the live checks `clvsync validate` makes. A broken input mapping (an
// amount property that no longer exists, a won stage that was deleted)
// stops the run with config.Problems naming each key and its fix, before
// any write. An output property HubSpot would reject is returned in leftOut
// (and reported in rep.LeftOut): the write-back leaves it out of every
// batch, so the contact's other values are still written, and the run
// fails.
func (r *Runner) preflight(ctx context.Context, o RunOptions, rep *Summary) (pipes []hubspot.Pipeline, leftOut map[config.OutputKey]bool, err error) {
	var p config.Portal
	if r.Client.Account != nil {
		acct, err := r.Client.Account.Details(ctx)
		switch {
		case err == nil:
			p.Account = acct
			if err := r.checkPortal(acct.PortalID, o.DryRun); err != nil {
				return nil, nil, err
			}
		case errors.Is(err, hubspot.ErrMissingScopes):
			// Account details need no scope today; if a portal asks for
			// one, the mapping checks below still run.
		default:
			return nil, nil, fmt.Errorf("check the portal: %w", err)
		}
	}
	if p.DealProps, err = r.Client.Properties.List(ctx, "deals", false); err != nil {
		return nil, nil, fmt.Errorf("check the mapping: %w", err)
	}
	if p.ContactProps, err = r.Client.Properties.List(ctx, "contacts", false); err != nil {
		return nil, nil, fmt.Errorf("check the mapping: %w", err)
	}
	if p.Groups, err = r.Client.Properties.ListGroups(ctx, "contacts"); err != nil {
		return nil, nil, fmt.Errorf("check the outputs: %w", err)
	}
	if p.Pipelines, err = r.Client.Pipelines.List(ctx, "deals"); err != nil {
		return nil, nil, fmt.Errorf("check the won stages: %w", err)
	}
	live := config.CheckPortal(r.Config, config.Portal{Account: p.Account, DealProps: orEmpty(p.DealProps),
		ContactProps: orEmpty(p.ContactProps), Groups: orEmpty(p.Groups), Pipelines: orEmpty(p.Pipelines)})
	var inputs config.Problems
	for _, prob := range live.Problems {
		if key, ok := config.OutputProblem(prob); ok {
			if leftOut == nil {
				leftOut = map[config.OutputKey]bool{}
			}
			leftOut[key] = true
			rep.LeftOut = append(rep.LeftOut, prob)
			continue
		}
		inputs = append(inputs, prob)
	}
	if len(inputs) > 0 {
		return nil, nil, fmt.Errorf("the mapping does not fit the portal, so nothing was written (`clvsync validate` shows the same): %w", inputs)
	}
	for _, prob := range rep.LeftOut {
		r.Logger.Error("output left out of every write", "key", prob.Key, "problem", prob.Msg, "fix", prob.Fix)
	}
	return p.Pipelines, leftOut, nil
}

// checkPortal refuses a state file made for another portal. A dry run only
// compares; a real run records the portal on first use.
func (r *Runner) checkPortal(id int64, dryRun bool) error {
	if !dryRun {
		return r.Store.CheckPortal(id)
	}
	stored, ok, err := r.Store.Portal()
	if err != nil || !ok || stored == id {
		return err
	}
	return r.Store.CheckPortal(id) // returns the wrong-portal error; records nothing
}

// orEmpty makes a list read from HubSpot non-nil: config.CheckPortal skips
// the checks of lists that are nil (not read).
func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
