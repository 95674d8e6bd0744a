package sync

import (
	"context"
	"fmt"
	"slices"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/state"
)

// pullIDs re-reads the deals and contacts that webhook events named, by id:
// a batch read sees a change at once, where search lags HubSpot's index by
// seconds. Deals come with their associations (a moved deal moves both
// customers); a deal HubSpot no longer has is deleted; a contact that is a
// merge survivor folds the merged ids. The incremental pull that follows
// still runs, so nothing an event missed is lost.
func (r *Runner) pullIDs(ctx context.Context, dealIDs, contactIDs []string, rules DealRules, rep *Summary) error {
	now := r.now()
	for chunk := range slices.Chunk(uniqueSorted(dealIDs), hubspot.MaxBatchSize) {
		objs, err := r.Client.Deals.BatchRead(ctx, chunk, dealProperties(r.Config))
		if err != nil {
			return fmt.Errorf("re-read %d deals named by webhooks: %w", len(chunk), err)
		}
		deals := make([]state.Deal, 0, len(objs))
		var ids []string
		for _, o := range objs {
			deals = append(deals, rules.normalizeDeal(o, now))
			ids = append(ids, o.ID)
		}
		if err := r.readAssociations(ctx, deals, ids); err != nil {
			return err
		}
		if err := r.Store.PutDeals(deals); err != nil {
			return err
		}
		gone := slices.DeleteFunc(slices.Clone(chunk), func(id string) bool { return slices.Contains(ids, id) })
		if err := r.Store.DeleteDeals(gone); err != nil {
			return err
		}
		rep.Pulled.Deals += len(deals)
		rep.Pulled.Deleted += len(gone)
	}
	for chunk := range slices.Chunk(uniqueSorted(contactIDs), hubspot.MaxBatchSize) {
		objs, err := r.Client.Contacts.BatchRead(ctx, chunk, contactProperties(r.Config))
		if err != nil {
			return fmt.Errorf("re-read %d contacts named by webhooks: %w", len(chunk), err)
		}
		for _, o := range objs {
			c := normalizeContact(r.Config, o)
			merged, err := mergedInto(c, r.tracked)
			if err != nil {
				return err
			}
			if err := r.fold(c, merged, true, rep); err != nil {
				return err
			}
			rep.Pulled.Contacts++
		}
	}
	return nil
}
