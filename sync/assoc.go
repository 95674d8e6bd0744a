package sync

import (
	"context"
	"hash/fnv"
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
	// Only an id and a fingerprint of the associations per won deal are
	// kept, not the deals (a 100k-contact portal's 333k deals took about
	// 130 MB); a changed deal is read again from the store.
	type entry struct {
		id  string
		sum uint64
	}
	var won []entry
	if err := r.Store.ForEachDeal(func(d state.Deal) error {
		if d.Won {
			won = append(won, entry{d.ID, r.assocSum(d.ContactIDs, d.PrimaryContactID, d.CompanyIDs, d.PrimaryCompanyID)})
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
			ids[i] = d.id
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
		for _, e := range chunk {
			cids, cprimary := associationIDs(contacts[e.id])
			var coids []string
			var coprimary string
			if r.Config.Companies {
				coids, coprimary = associationIDs(companies[e.id])
			}
			if r.assocSum(cids, cprimary, coids, coprimary) == e.sum {
				continue
			}
			d, ok, err := r.Store.Deal(e.id)
			if err != nil {
				return err
			}
			if !ok {
				continue // deleted meanwhile
			}
			d.ContactIDs, d.PrimaryContactID = cids, cprimary
			if r.Config.Companies {
				d.CompanyIDs, d.PrimaryCompanyID = coids, coprimary
			}
			changed = append(changed, d)
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

// assocSum fingerprints a deal's associations as refreshAssociations
// compares them: the contact ids in any order and the primary contact, and
// with companies on the same for companies.
func (r *Runner) assocSum(contacts []string, primary string, companies []string, primaryCompany string) uint64 {
	h := fnv.New64a()
	add := func(ids []string, primary string) {
		ids = slices.Clone(ids)
		slices.Sort(ids)
		for _, id := range ids {
			h.Write([]byte(id))
			h.Write([]byte{0})
		}
		h.Write([]byte{1})
		h.Write([]byte(primary))
		h.Write([]byte{2})
	}
	add(contacts, primary)
	if r.Config.Companies {
		add(companies, primaryCompany)
	}
	return h.Sum64()
}
