package sync

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/state"
)

// Cursor names in the store.
const (
	cursorDeals       = "deals"      // incremental high-water mark (hs_lastmodifieddate)
	cursorContacts    = "contacts"   // incremental high-water mark (lastmodifieddate)
	cursorDealsFull   = "deals.full" // After = paging checkpoint of a full sync in progress
	cursorArchiveScan = "archived"   // time of the last archived-records scan
	fullDone          = "done"       // After value once a full listing has finished
	metaInputHash     = "input_hash" // Config.InputHash of the data in the store
	metaWonStages     = "won_stages" // won stages in force when deals were stored
	assocChunk        = 1000         // HubSpot's association batch limit
	readChunk         = 100          // HubSpot's object batch limit
	incrementalChunk  = 500          // deals per store transaction in incremental pulls
)

// CursorNames returns the names of the sync cursors kept in the store, for
// `clvsync status`.
func CursorNames() []string {
	return []string{cursorDeals, cursorContacts, cursorDealsFull, cursorArchiveScan}
}

// pullPlan decides full or incremental, and why.
type pullPlan struct {
	Full   bool
	Resume bool // a full listing was interrupted and continues from its checkpoint
	Reason string
}

func (r *Runner) plan(force bool) (pullPlan, error) {
	hash, err := r.Store.Meta(metaInputHash)
	if err != nil {
		return pullPlan{}, err
	}
	full, err := r.Store.Cursor(cursorDealsFull)
	if err != nil {
		return pullPlan{}, err
	}
	inc, err := r.Store.Cursor(cursorDeals)
	if err != nil {
		return pullPlan{}, err
	}
	switch {
	case force:
		return pullPlan{Full: true, Reason: "requested with --full"}, nil
	case hash != "" && hash != r.Config.InputHash():
		return pullPlan{Full: true, Reason: "the deal or contact mapping changed since the data was stored"}, nil
	case full.After != "" && full.After != fullDone:
		return pullPlan{Full: true, Resume: true, Reason: "continuing an interrupted full sync"}, nil
	case inc.Time.IsZero():
		return pullPlan{Full: true, Reason: "first run"}, nil
	}
	return pullPlan{Reason: "incremental since " + inc.Time.Format(time.RFC3339)}, nil
}

// pull brings the store up to date with HubSpot.
func (r *Runner) pull(ctx context.Context, p pullPlan, rules dealRules, rep *Report) error {
	start := r.now()
	if p.Full {
		if err := r.fullDeals(ctx, p, rules, start, rep); err != nil {
			return err
		}
	} else {
		if err := r.incrementalDeals(ctx, rules, rep); err != nil {
			return err
		}
		if err := r.incrementalContacts(ctx, rep); err != nil {
			return err
		}
		if err := r.scanArchived(ctx, rep); err != nil {
			return err
		}
	}
	if err := r.fetchMissingContacts(ctx, rep); err != nil {
		return err
	}
	if p.Full {
		// The incremental cursors start where this full sync started: whatever
		// changed while it ran is picked up by the next incremental run.
		cs := []state.Cursor{
			{Name: cursorDeals, Time: start}, {Name: cursorContacts, Time: start},
			{Name: cursorArchiveScan, Time: start}, {Name: cursorDealsFull, Time: start, After: fullDone},
		}
		if err := r.Store.SetCursors(cs...); err != nil {
			return err
		}
		if err := r.Store.SetMeta(metaInputHash, r.Config.InputHash()); err != nil {
			return err
		}
	}
	return nil
}

// fullDeals lists every deal page by page, storing each page together with
// the paging checkpoint, so a killed run resumes from the last stored page.
func (r *Runner) fullDeals(ctx context.Context, p pullPlan, rules dealRules, start time.Time, rep *Report) error {
	opts := hubspot.ListOptions{Limit: 100, Properties: r.Config.dealProperties(), Associations: []string{"contacts", "companies"}}
	if p.Resume {
		cur, err := r.Store.Cursor(cursorDealsFull)
		if err != nil {
			return err
		}
		opts.After, start = cur.After, cur.Time
		r.Logger.Info("resuming full sync", "after", cur.After)
	} else {
		if err := r.Store.ResetData(); err != nil {
			return fmt.Errorf("reset stored data for full sync: %w", err)
		}
		// Record that a full listing is under way before the first page, so
		// a crash before it completes resumes instead of going incremental.
		if err := r.Store.SetCursors(state.Cursor{Name: cursorDealsFull, Time: start, After: "start"}); err != nil {
			return err
		}
	}
	if opts.After == "start" {
		opts.After = ""
	}
	for page, err := range r.Client.Deals.Pages(ctx, opts) {
		if err != nil {
			return fmt.Errorf("list deals: %w", err)
		}
		deals := make([]state.Deal, 0, len(page.Results))
		var morePages []string
		for _, o := range page.Results {
			d := rules.normalizeDeal(o, r.now())
			var more bool
			d.ContactIDs, d.PrimaryContactID, more = inlineAssociations(o, "contacts")
			morePages = appendIf(morePages, o.ID, more)
			d.CompanyIDs, d.PrimaryCompanyID, more = inlineAssociations(o, "companies")
			morePages = appendIf(morePages, o.ID, more)
			deals = append(deals, d)
		}
		if len(morePages) > 0 {
			if err := r.readAssociations(ctx, deals, slices.Compact(morePages)); err != nil {
				return err
			}
		}
		next := page.NextAfter()
		if next == "" {
			next = fullDone
		}
		r.noteWarnings(deals, rep)
		if err := r.Store.PutDeals(deals, state.Cursor{Name: cursorDealsFull, Time: start, After: next}); err != nil {
			return err
		}
		rep.Pulled.Deals += len(deals)
		r.progress("pull", rep.Pulled.Deals, 0)
	}
	return nil
}

func appendIf(s []string, v string, ok bool) []string {
	if ok {
		return append(s, v)
	}
	return s
}

// inlineAssociations reads the v3-shaped associations HubSpot returns on a
// list call. more reports that HubSpot paged them (over 100), in which case
// the full set is read with the v4 batch endpoint.
func inlineAssociations(o hubspot.Object, to string) (ids []string, primary string, more bool) {
	for key, list := range o.Associations {
		if key != to && !strings.HasPrefix(key, to) {
			continue
		}
		for _, a := range list.Results {
			ids = append(ids, a.ID)
			if strings.Contains(a.Type, "primary") || a.Type == "deal_to_company" {
				primary = a.ID
			}
		}
		if list.Paging != nil && list.Paging.Next != nil && list.Paging.Next.After != "" {
			more = true
		}
	}
	sort.Strings(ids)
	ids = slices.Compact(ids)
	return ids, primary, more
}

// readAssociations replaces the contact and company associations of the
// given deals with the complete sets from the v4 batch endpoint.
func (r *Runner) readAssociations(ctx context.Context, deals []state.Deal, ids []string) error {
	byID := make(map[string]*state.Deal, len(deals))
	for i := range deals {
		byID[deals[i].ID] = &deals[i]
	}
	for chunk := range slices.Chunk(ids, assocChunk) {
		contacts, err := r.Client.Associations.BatchRead(ctx, "deals", "contacts", chunk)
		if err != nil {
			return fmt.Errorf("read deal-contact associations: %w", err)
		}
		companies, err := r.Client.Associations.BatchRead(ctx, "deals", "companies", chunk)
		if err != nil {
			return fmt.Errorf("read deal-company associations: %w", err)
		}
		for _, id := range chunk {
			d := byID[id]
			d.ContactIDs, d.PrimaryContactID = associationIDs(contacts[id])
			d.CompanyIDs, d.PrimaryCompanyID = associationIDs(companies[id])
		}
	}
	return nil
}

// Association type ids HubSpot uses for "primary" links (hubspot-api.md §5).
var primaryTypeIDs = map[int]bool{5: true, 1: true}

func associationIDs(as []hubspot.Association) (ids []string, primary string) {
	for _, a := range as {
		ids = append(ids, a.ToObjectID)
		for _, t := range a.Types {
			if primaryTypeIDs[t.TypeID] {
				primary = a.ToObjectID
			}
		}
	}
	sort.Strings(ids)
	return slices.Compact(ids), primary
}

// incrementalDeals searches deals modified since the cursor (less an overlap
// for clock skew and search indexing delay) and stores them in chunks; each
// chunk moves the cursor in the same transaction.
func (r *Runner) incrementalDeals(ctx context.Context, rules dealRules, rep *Report) error {
	cur, err := r.Store.Cursor(cursorDeals)
	if err != nil {
		return err
	}
	since := cur.Time.Add(-time.Duration(r.Config.Schedule.OverlapSkew))
	var batch []state.Deal
	high := cur.Time
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		ids := make([]string, len(batch))
		for i, d := range batch {
			ids[i] = d.ID
		}
		if err := r.readAssociations(ctx, batch, ids); err != nil {
			return err
		}
		r.noteWarnings(batch, rep)
		if err := r.Store.PutDeals(batch, state.Cursor{Name: cursorDeals, Time: high}); err != nil {
			return err
		}
		rep.Pulled.Deals += len(batch)
		r.progress("pull", rep.Pulled.Deals, 0)
		batch = batch[:0]
		return nil
	}
	for o, err := range r.Client.Deals.ModifiedSince(ctx, since, r.Config.dealProperties()) {
		if err != nil {
			return fmt.Errorf("search modified deals: %w", err)
		}
		d := rules.normalizeDeal(o, r.now())
		if d.ModifiedAt.After(high) {
			high = d.ModifiedAt
		}
		batch = append(batch, d)
		if len(batch) >= incrementalChunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// incrementalContacts folds merges: a survivor's hs_merged_object_ids names
// the contacts merged into it. Only contacts carrying merged ids are searched:
// clvsync's own write-back touches the last-modified date of every contact
// it writes, so searching all modified contacts would cost as much as the
// write-back itself on every run. Other contact changes (acquisition source,
// create date) are picked up by full resyncs (schedule.full_resync).
func (r *Runner) incrementalContacts(ctx context.Context, rep *Report) error {
	cur, err := r.Store.Cursor(cursorContacts)
	if err != nil {
		return err
	}
	since := cur.Time.Add(-time.Duration(r.Config.Schedule.OverlapSkew))
	high := cur.Time
	var batch []state.Contact
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := r.Store.PutContacts(batch, state.Cursor{Name: cursorContacts, Time: high})
		rep.Pulled.Contacts += len(batch)
		batch = batch[:0]
		return err
	}
	merged := hubspot.Filter{PropertyName: "hs_merged_object_ids", Operator: hubspot.OpHasProperty}
	for o, err := range r.Client.Contacts.ModifiedSinceWhere(ctx, since, r.Config.contactProperties(), merged) {
		if err != nil {
			return fmt.Errorf("search modified contacts: %w", err)
		}
		c := r.Config.normalizeContact(o)
		if c.ModifiedAt.After(high) {
			high = c.ModifiedAt
		}
		known, err := r.tracked(c.ID)
		if err != nil {
			return err
		}
		var merged []string
		for _, m := range c.MergedIDs {
			if ok, err := r.tracked(m); err != nil {
				return err
			} else if ok {
				merged = append(merged, m)
			}
		}
		if len(merged) > 0 {
			if err := flush(); err != nil {
				return err
			}
			if err := r.Store.PutContacts([]state.Contact{c}); err != nil {
				return err
			}
			if err := r.Store.MergeContacts(c.ID, merged); err != nil {
				return err
			}
			rep.Pulled.Merged += len(merged)
			r.Logger.Info("merged contacts folded into survivor", "survivor", c.ID, "merged", merged)
			continue
		}
		if known {
			batch = append(batch, c)
			if len(batch) >= incrementalChunk {
				if err := flush(); err != nil {
					return err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	return r.Store.SetCursors(state.Cursor{Name: cursorContacts, Time: high})
}

// tracked reports whether a contact matters to clvsync: it is stored, or
// deals reference it.
func (r *Runner) tracked(id string) (bool, error) {
	if _, ok, err := r.Store.Contact(id); err != nil || ok {
		return ok, err
	}
	deals, err := r.Store.DealsOfContact(id)
	return len(deals) > 0, err
}

// scanArchived finds deals and contacts deleted (archived) since the last
// scan. Search never returns archived records, so this is a list with
// archived=true, filtered by archivedAt.
func (r *Runner) scanArchived(ctx context.Context, rep *Report) error {
	cur, err := r.Store.Cursor(cursorArchiveScan)
	if err != nil {
		return err
	}
	since := cur.Time.Add(-time.Duration(r.Config.Schedule.OverlapSkew))
	scanStart := r.now()
	for _, kind := range []struct {
		svc    *hubspot.ObjectsService
		delete func([]string, ...state.Cursor) error
	}{{r.Client.Deals, r.Store.DeleteDeals}, {r.Client.Contacts, r.Store.DeleteContacts}} {
		var ids []string
		for page, err := range kind.svc.Pages(ctx, hubspot.ListOptions{Limit: 100, Archived: true, Properties: []string{"hs_object_id"}}) {
			if err != nil {
				return fmt.Errorf("list archived records: %w", err)
			}
			for _, o := range page.Results {
				if o.ArchivedAt == nil || !o.ArchivedAt.Before(since) {
					ids = append(ids, o.ID)
				}
			}
		}
		for chunk := range slices.Chunk(ids, 500) {
			if err := kind.delete(chunk); err != nil {
				return err
			}
		}
		rep.Pulled.Deleted += len(ids)
	}
	return r.Store.SetCursors(state.Cursor{Name: cursorArchiveScan, Time: scanStart})
}

// fetchMissingContacts batch-reads every contact that stored deals reference
// but the store does not hold yet, 100 per call. Ids HubSpot no longer knows
// (deleted or merged away) are removed from the deals that reference them.
func (r *Runner) fetchMissingContacts(ctx context.Context, rep *Report) error {
	props := r.Config.contactProperties()
	for {
		ids, err := r.Store.MissingContacts(readChunk)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		objs, err := r.Client.Contacts.BatchRead(ctx, ids, props)
		if err != nil {
			return fmt.Errorf("read contacts: %w", err)
		}
		found := make(map[string]bool, len(objs))
		contacts := make([]state.Contact, 0, len(objs))
		for _, o := range objs {
			found[o.ID] = true
			contacts = append(contacts, r.Config.normalizeContact(o))
		}
		var gone []string
		for _, id := range ids {
			if !found[id] {
				gone = append(gone, id)
			}
		}
		if err := r.Store.PutContacts(contacts); err != nil {
			return err
		}
		// A merged-away id is answered with the survivor's record.
		for _, c := range contacts {
			var merged []string
			for _, m := range c.MergedIDs {
				if slices.Contains(gone, m) {
					merged = append(merged, m)
				}
			}
			if len(merged) > 0 {
				if err := r.Store.MergeContacts(c.ID, merged); err != nil {
					return err
				}
				gone = slices.DeleteFunc(gone, func(id string) bool { return slices.Contains(merged, id) })
				rep.Pulled.Merged += len(merged)
			}
		}
		if len(gone) > 0 {
			if err := r.Store.DeleteContacts(gone); err != nil {
				return err
			}
			r.Logger.Info("contacts referenced by deals no longer exist in HubSpot", "count", len(gone))
		}
		rep.Pulled.Contacts += len(contacts)
		r.progress("pull contacts", rep.Pulled.Contacts, 0)
	}
}

// noteWarnings counts the data problems of won deals: those of open or lost
// deals do not affect any value.
func (r *Runner) noteWarnings(deals []state.Deal, rep *Report) {
	for _, d := range deals {
		if !d.Won {
			continue
		}
		for _, w := range d.Warnings {
			rep.Warnings++
			if len(rep.WarningSample) < 200 {
				rep.WarningSample = append(rep.WarningSample, "deal "+d.ID+": "+w)
			}
		}
	}
}
