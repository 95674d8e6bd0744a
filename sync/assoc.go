package sync

import (
	"context"
	"slices"
	"strconv"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/state"
)

// metaAssocRuns counts incremental runs since the last association
// refresh.
const metaAssocRuns = "association_refresh_runs"

// refreshDue says whether this incremental run re-reads the associations
// (schedule.association_refresh_every), and counts the run.
func (r *Runner) refreshDue() (bool, error) {
	every := r.Config.Schedule.AssociationRefreshEvery
	if every <= 0 {
		return false, nil
	}
	raw, err := r.Store.Meta(metaAssocRuns)
	if err != nil {
		return false, err
	}
	n, _ := strconv.Atoi(raw)
	n++
	due := n >= every
	if due {
		n = 0
	}
	return due, r.Store.SetMeta(metaAssocRuns, strconv.Itoa(n))
}

// refreshAssociations re-reads the contact (and, with companies, company)
// associations of every won deal in the store with the v4 batch read, 1,000
// deals a call, and stores the deals whose associations changed: moving a
// deal to another contact, or adding a contact to it, does not change the
// deal's modified date in HubSpot, so no search sees it. Both customers
// are recomputed by the run. Cost: ceil(won deals / 1,000) calls per
// association type.
func (r *Runner) refreshAssociations(ctx context.Context, rep *Summary) error {
	var won []state.Deal
	if err := r.Store.ForEachDeal(func(d state.Deal) error {
		if d.Won {
			won = append(won, d)
		}
		return nil
	}); err != nil {
		return err
	}
	for chunk := range slices.Chunk(won, assocChunk) {
		if err := ctx.Err(); err != nil {
			return err
		}
		ids := make([]string, len(chunk))
		for i, d := range chunk {
			ids[i] = d.ID
		}
		contacts, err := r.Client.Associations.BatchRead(ctx, "deals", "contacts", ids)
		if err != nil {
			return err
		}
		var companies map[string][]hubspot.Association
		if r.Config.Companies {
			if companies, err = r.Client.Associations.BatchRead(ctx, "deals", "companies", ids); err != nil {
				return err
			}
		}
		var changed []state.Deal
		for _, d := range chunk {
			cids, cprimary := associationIDs(contacts[d.ID])
			upd := d
			upd.ContactIDs, upd.PrimaryContactID = cids, cprimary
			if r.Config.Companies {
				upd.CompanyIDs, upd.PrimaryCompanyID = associationIDs(companies[d.ID])
			}
			if !sameIDs(d.ContactIDs, upd.ContactIDs) || d.PrimaryContactID != upd.PrimaryContactID ||
				(r.Config.Companies && (!sameIDs(d.CompanyIDs, upd.CompanyIDs) || d.PrimaryCompanyID != upd.PrimaryCompanyID)) {
				changed = append(changed, upd)
			}
		}
		if len(changed) > 0 {
			if err := r.Store.PutDeals(changed); err != nil {
				return err
			}
			rep.Pulled.Deals += len(changed)
			r.Logger.Info("deal associations changed in HubSpot", "deals", len(changed))
		}
	}
	return nil
}

func sameIDs(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
