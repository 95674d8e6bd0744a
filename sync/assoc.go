package sync

import (
	"context"
	"hash/fnv"
	"slices"
	"strconv"
	gosync "sync"

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
// association type, assocReaders of them in flight.
//
// It runs beside the rest of the pull (see pull), so a deal may be stored
// by another writer (a merge fold, say) between the refresh's read of
// HubSpot and its own write: each deal is stored only if its stored
// associations are still the ones the refresh started from, in the same
// transaction (Store.UpdateDeals); otherwise the newer write stands and the
// next refresh looks again. It returns how many deals it stored.
func (r *Runner) refreshAssociations(ctx context.Context) (int, error) {
	type entry struct {
		id  string
		sum uint64 // of the associations as stored when the scan passed
	}
	type assoc struct {
		sum                     uint64 // what the refresh started from
		contacts, companies     []string
		primary, primaryCompany string
	}
	// refresh reads one chunk's associations and stores the deals whose
	// associations changed.
	refresh := func(ctx context.Context, chunk []entry) (int, error) {
		ids := make([]string, len(chunk))
		for i, d := range chunk {
			ids[i] = d.id
		}
		contacts, err := r.Client.Associations.BatchRead(ctx, "deals", "contacts", ids)
		if err != nil {
			return 0, err
		}
		var companies map[string][]hubspot.Association
		if r.Config.Companies {
			if companies, err = r.Client.Associations.BatchRead(ctx, "deals", "companies", ids); err != nil {
				return 0, err
			}
		}
		changed := map[string]assoc{}
		var changedIDs []string
		for _, e := range chunk {
			a := assoc{sum: e.sum}
			a.contacts, a.primary = associationIDs(contacts[e.id])
			if r.Config.Companies {
				a.companies, a.primaryCompany = associationIDs(companies[e.id])
			}
			if r.assocSum(a.contacts, a.primary, a.companies, a.primaryCompany) != e.sum {
				changed[e.id] = a
				changedIDs = append(changedIDs, e.id)
			}
		}
		if len(changedIDs) == 0 {
			return 0, nil
		}
		n, err := r.Store.UpdateDeals(changedIDs, func(d *state.Deal) bool {
			a := changed[d.ID]
			if r.assocSum(d.ContactIDs, d.PrimaryContactID, d.CompanyIDs, d.PrimaryCompanyID) != a.sum {
				return false // stored anew since the refresh began: the newer write stands
			}
			d.ContactIDs, d.PrimaryContactID = a.contacts, a.primary
			if r.Config.Companies {
				d.CompanyIDs, d.PrimaryCompanyID = a.companies, a.primaryCompany
			}
			return true
		})
		if n < len(changedIDs) {
			r.Logger.Debug("association refresh left deals stored meanwhile", "deals", len(changedIDs)-n)
		}
		return n, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan []entry)
	var (
		wg      gosync.WaitGroup
		mu      gosync.Mutex
		stored  int
		firstEr error
	)
	for range assocReaders {
		wg.Go(func() {
			for chunk := range chunks {
				n, err := refresh(ctx, chunk)
				mu.Lock()
				stored += n
				if err != nil && firstEr == nil {
					firstEr = err
					cancel()
				}
				mu.Unlock()
			}
		})
	}
	// The won deals are handed to the readers as the scan finds them, an
	// id and a fingerprint of the associations each (at 300k contacts the
	// scan alone takes 3 s).
	chunk := make([]entry, 0, assocChunk)
	send := func() error {
		select {
		case chunks <- chunk:
			chunk = make([]entry, 0, assocChunk)
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	err := r.Store.ForEachDeal(func(d state.Deal) error {
		if !d.Won {
			return nil
		}
		chunk = append(chunk, entry{d.ID, r.assocSum(d.ContactIDs, d.PrimaryContactID, d.CompanyIDs, d.PrimaryCompanyID)})
		if len(chunk) == assocChunk {
			return send()
		}
		return nil
	})
	if err == nil && len(chunk) > 0 {
		err = send()
	}
	close(chunks)
	wg.Wait()
	if firstEr == nil {
		firstEr = err
	}
	if stored > 0 {
		r.Logger.Info("deal associations changed in HubSpot", "deals", stored)
	}
	return stored, firstEr
}

// assocReaders is how many association reads a refresh keeps in flight:
// one answer of 1,000 deals takes HubSpot (and fakehub) longer than the
// rate limit's spacing, so one at a time used a fraction of the limit.
const assocReaders = 4

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
