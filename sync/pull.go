package sync

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"iter"
	"runtime/debug"
	"runtime/metrics"
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
	assocChunk        = 1000         // HubSpot's association batch limit
	readChunk         = 100          // HubSpot's object batch limit
	incrementalChunk  = 200          // deals per store transaction in incremental pulls (each maps the pages it touches: see state.Store.TrimMapped)
	listingGroup      = 20           // deal pages per store transaction in a full listing
	contactGroup      = 500          // contacts per store transaction in a full listing
	prefetchDepth     = 2            // answers fetched ahead of the store
)

// CursorNames returns the names of the sync cursors kept in the store, for
// `clvsync status`.
func CursorNames() []string {
	return []string{cursorDeals, cursorContacts, cursorDealsFull, cursorArchiveScan, cursorCompanies}
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
	case full.After == fullDone && inc.Time.IsZero():
		// Every deal page was stored, but the run failed before the
		// contacts and cursors: finish those without listing again.
		return pullPlan{Full: true, Resume: true, Reason: "continuing an interrupted full sync (deals already listed)"}, nil
	case inc.Time.IsZero():
		return pullPlan{Full: true, Reason: "first run"}, nil
	}
	return pullPlan{Reason: "incremental since " + inc.Time.Format(time.RFC3339)}, nil
}

// pull brings the store up to date with HubSpot.
func (r *Runner) pull(ctx context.Context, p pullPlan, rules DealRules, rep *Summary) error {
	start := r.now()
	if p.Full {
		err := r.withPullGC(func() error { return r.fullDeals(ctx, p, rules, start, rep) })
		if err != nil {
			return err
		}
		// The listing stored its deals without index entries; nothing
		// below may read the indices before they are rebuilt.
		if err := r.Store.RebuildIndexes(); err != nil {
			return err
		}
	} else {
		if err := r.Store.RebuildIndexes(); err != nil { // a no-op unless a listing was cut short
			return err
		}
		if err := r.step("modified deals", func() error { return r.incrementalDeals(ctx, rules, rep) }); err != nil {
			return err
		}
		due, err := r.refreshDue()
		if err != nil {
			return err
		}
		// The association refresh is bound by the general rate limit, the
		// contact search by the search limit (5 a second): they run side
		// by side. Missing contacts and companies are read after both, so
		// they include what the refresh found.
		if err := r.besideRefresh(ctx, due, rep, func(ctx context.Context) error {
			if err := r.step("modified contacts", func() error { return r.incrementalContacts(ctx, rep) }); err != nil {
				return err
			}
			return r.step("archived records", func() error { return r.scanArchived(ctx, rep) })
		}); err != nil {
			return err
		}
	}
	if err := r.step("missing contacts", func() error { return r.fetchMissingContacts(ctx, rep) }); err != nil {
		return err
	}
	if err := r.step("companies", func() error { return r.pullCompanies(ctx, p.Full, rep) }); err != nil {
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
		// The contact cursor starts here: only this run's writes will be
		// read back.
		if err := r.Store.SetMeta(metaReadBack, "0"); err != nil {
			return err
		}
	}
	return nil
}

// step runs one step of the pull and, when it succeeds, logs its time (on
// the real clock) at debug level.
func (r *Runner) step(name string, fn func() error) error {
	t0 := time.Now()
	if err := fn(); err != nil {
		return err
	}
	r.Logger.Debug("pull step done", "step", name, "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// besideRefresh runs fn, and with due the association refresh beside it;
// it returns when both have ended, with fn's error first.
func (r *Runner) besideRefresh(ctx context.Context, due bool, rep *Summary, fn func(context.Context) error) error {
	if !due {
		return fn(ctx)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		var n int
		err := r.step("association refresh", func() (err error) {
			n, err = r.refreshAssociations(ctx)
			return err
		})
		done <- result{n, err}
	}()
	err := fn(ctx)
	if err != nil {
		cancel() // the pull failed: the refresh's reads no longer matter
	}
	res := <-done
	rep.Pulled.Deals += res.n
	if err != nil {
		return err
	}
	if res.err != nil {
		return fmt.Errorf("refresh deal associations: %w", res.err)
	}
	return nil
}

// withPullGC runs fn, a full listing, with the collector at
// Runner.PullGCPercent, under a soft memory limit of what the runtime held
// when it began plus pullHeadroom (or the limit already set, when lower:
// GOMEMLIMIT).
func (r *Runner) withPullGC(fn func() error) error {
	if r.PullGCPercent <= 0 {
		return fn()
	}
	defer debug.SetGCPercent(debug.SetGCPercent(r.PullGCPercent))
	lift, _ := limitMemoryAbove(pullHeadroom)
	defer lift()
	return fn()
}

// limitMemoryAbove sets a soft memory limit headroom above what the Go
// runtime holds now, unless the limit already set (GOMEMLIMIT, or an outer
// bound) is lower. It returns what restores the limit it replaced, and that
// limit (0 when it set none).
func limitMemoryAbove(headroom int64) (lift func(), outer int64) {
	outer = debug.SetMemoryLimit(-1)
	held := goMemory()
	if held <= 0 || held+headroom >= outer {
		return func() {}, 0
	}
	debug.SetMemoryLimit(held + headroom)
	return func() { debug.SetMemoryLimit(outer) }, outer
}

// pullHeadroom is how far a full listing's memory may grow above where it
// began before the collector runs, whatever PullGCPercent allows: the
// listing's live heap grows with the portal (the contact reader's hashes,
// bbolt's record of the pages it allocated), and at GOGC 300 the heap grew
// to four times it (56 MB at 300k contacts, 24 MB at 100k).
const pullHeadroom = 32 << 20

// goMemory is the memory the Go runtime holds from the system (heap,
// stacks and its own structures, less what it returned).
func goMemory() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 || s[1].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64() - s[1].Value.Uint64())
}

// fullDeals lists every deal page by page, storing each page together with
// the paging checkpoint, so a killed run resumes from the last stored page.
func (r *Runner) fullDeals(ctx context.Context, p pullPlan, rules DealRules, start time.Time, rep *Summary) error {
	opts := hubspot.ListOptions{Limit: 100, Properties: dealProperties(r.Config), Associations: []string{"contacts", "companies"}}
	if p.Resume {
		cur, err := r.Store.Cursor(cursorDealsFull)
		if err != nil {
			return err
		}
		opts.After, start = cur.After, cur.Time
		if cur.After == fullDone {
			r.Logger.Info("resuming full sync after its deal listing")
			return nil // pull goes on with the contacts the stored deals name
		}
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
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	contacts := r.newContactReader(rctx, p.Resume)
	if err := r.listDeals(ctx, opts, rules, start, contacts, rep); err != nil {
		cancel() // the listing failed: the reader's batches no longer matter
		_ = contacts.close(rep)
		return err
	}
	return contacts.close(rep)
}

// listDeals stores the deal pages of a full sync with their checkpoint and
// hands their contacts to the contact reader.
func (r *Runner) listDeals(ctx context.Context, opts hubspot.ListOptions, rules DealRules, start time.Time, contacts *contactReader, rep *Summary) error {
	pages := func(ctx context.Context) iter.Seq2[*hubspot.Page, error] { return r.Client.Deals.Pages(ctx, opts) }
	// Several pages go into one transaction with the checkpoint of the
	// last: one disk flush per group instead of per page, and a killed run
	// re-reads at most the pages of one group.
	group := make([]state.Deal, 0, listingGroup*opts.Limit)
	pagesInGroup := 0
	flush := func(after string) error {
		if err := r.Store.PutListedDeals(group, state.Cursor{Name: cursorDealsFull, Time: start, After: after}); err != nil {
			return err
		}
		contacts.add(group)
		rep.Pulled.Deals += len(group)
		group, pagesInGroup = make([]state.Deal, 0, listingGroup*opts.Limit), 0
		return nil
	}
	listed := 0
	for page, err := range prefetch(ctx, prefetchDepth, pages) {
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
		group = append(group, deals...)
		pagesInGroup++
		listed += len(deals)
		r.progress("pull", listed, 0) // per page: a group is stored at once
		if pagesInGroup == listingGroup || next == fullDone {
			if err := flush(next); err != nil {
				return err
			}
		}
		if next == fullDone {
			return nil
		}
	}
	// Only the last page ends a listing: anything else must not be taken
	// for a complete one.
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("list deals: %w", err)
	}
	return errors.New("list deals: the listing ended before its last page")
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

// searchModified is the one incremental-search loop of a pull. It searches
// the records of one object type modified since the cursor, less the overlap
// for clock skew and search indexing delay, in ascending modified order.
// keep turns each record into what is stored (ok false skips it, though its
// modified time still counts); put stores a chunk of incrementalChunk
// together with the cursor at the highest modified time seen so far, in one
// transaction, so every record before it has been handled. keep may call
// flush to store the pending chunk first. When the search ends, the cursor
// is set to the highest time seen.
func searchModified[T any](ctx context.Context, r *Runner, cursor, what string,
	search func(since time.Time) iter.Seq2[hubspot.Object, error],
	keep func(o hubspot.Object, flush func() error) (v T, modified time.Time, ok bool, err error),
	put func(batch []T, c state.Cursor) error) error {
	cur, err := r.Store.Cursor(cursor)
	if err != nil {
		return err
	}
	high := cur.Time
	var batch []T
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := put(batch, state.Cursor{Name: cursor, Time: high})
		batch = batch[:0]
		return err
	}
	// keep looks records up one by one: the pages they touch would stay
	// mapped until the phase ends (the read-back of a full write-back is
	// every customer).
	seen := 0
	for o, err := range search(cur.Time.Add(-time.Duration(r.Config.Schedule.OverlapSkew))) {
		if err != nil {
			return fmt.Errorf("search modified %s: %w", what, err)
		}
		v, modified, ok, err := keep(o, flush)
		if err != nil {
			return err
		}
		if seen++; seen%200 == 0 {
			r.trimMapped()
		}
		if modified.After(high) {
			high = modified
		}
		if !ok {
			continue
		}
		if batch = append(batch, v); len(batch) >= incrementalChunk {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	return r.Store.SetCursors(state.Cursor{Name: cursor, Time: high})
}

// incrementalDeals searches deals modified since the cursor and stores them
// in chunks with their complete associations; each chunk moves the cursor in
// the same transaction.
func (r *Runner) incrementalDeals(ctx context.Context, rules DealRules, rep *Summary) error {
	search := func(since time.Time) iter.Seq2[hubspot.Object, error] {
		return r.Client.Deals.ModifiedSinceWhere(ctx, since, dealProperties(r.Config))
	}
	keep := func(o hubspot.Object, _ func() error) (state.Deal, time.Time, bool, error) {
		d := rules.normalizeDeal(o, r.now())
		return d, d.ModifiedAt, true, nil
	}
	put := func(batch []state.Deal, c state.Cursor) error {
		ids := make([]string, len(batch))
		for i, d := range batch {
			ids[i] = d.ID
		}
		if err := r.readAssociations(ctx, batch, ids); err != nil {
			return err
		}
		r.noteWarnings(batch, rep)
		if err := r.Store.PutDeals(batch, c); err != nil {
			return err
		}
		rep.Pulled.Deals += len(batch)
		r.progress("pull", rep.Pulled.Deals, 0)
		return nil
	}
	return searchModified(ctx, r, cursorDeals, "deals", search, keep, put)
}

// incrementalContacts searches contacts modified since the cursor: their
// own changes (email, name, acquisition source, company) are stored, and a
// merge survivor's hs_merged_object_ids folds the contacts merged into it.
// clvsync's own write-back touches every contact it writes too: a contact
// whose stored fields are unchanged is skipped without a store write, so
// the work stays proportional to real changes (the search pages are not:
// the run after a write-back reads back the contacts it wrote, 200 a page).
func (r *Runner) incrementalContacts(ctx context.Context, rep *Summary) error {
	keep := func(o hubspot.Object, flush func() error) (state.Contact, time.Time, bool, error) {
		return r.keepContact(o, flush, rep)
	}
	put := func(batch []state.Contact, c state.Cursor) error {
		rep.Pulled.Contacts += len(batch)
		return r.Store.PutContacts(batch, c)
	}
	list, err := r.listReadBack(ctx)
	if err != nil {
		return err
	}
	if list {
		err = r.listContacts(ctx, keep, func(batch []state.Contact) error {
			rep.Pulled.Contacts += len(batch)
			return r.Store.PutContacts(batch)
		})
	} else {
		search := func(since time.Time) iter.Seq2[hubspot.Object, error] {
			return r.Client.Contacts.ModifiedSinceWhere(ctx, since, contactProperties(r.Config))
		}
		err = searchModified(ctx, r, cursorContacts, "contacts", search, keep, put)
	}
	if err != nil {
		return err
	}
	// What earlier runs wrote is read back: only this run's writes remain.
	return r.Store.SetMeta(metaReadBack, "0")
}

// keepContact is incrementalContacts's decision for one contact HubSpot
// returned: store it (a customer whose kept fields changed, or a contact
// deals name), skip it, or fold the contacts merged into it (after flush
// has stored the batch so far).
func (r *Runner) keepContact(o hubspot.Object, flush func() error, rep *Summary) (state.Contact, time.Time, bool, error) {
	c := normalizeContact(r.Config, o)
	stored, known, err := r.Store.Contact(c.ID)
	if err != nil {
		return c, c.ModifiedAt, false, err
	}
	merged, err := mergedInto(c, r.tracked)
	if err != nil {
		return c, c.ModifiedAt, false, err
	}
	if len(merged) == 0 {
		if !known {
			// Not a customer (nor referenced by a deal): nothing to keep.
			ref, err := r.tracked(c.ID)
			return c, c.ModifiedAt, ref, err
		}
		return c, c.ModifiedAt, contactChanged(stored, c), nil
	}
	if err := flush(); err != nil {
		return c, c.ModifiedAt, false, err
	}
	if err := r.fold(c, merged, true, rep); err != nil {
		return c, c.ModifiedAt, false, err
	}
	r.Logger.Info("merged contacts folded into survivor", "survivor", c.ID, "merged", merged)
	return c, c.ModifiedAt, false, nil
}

// contactChanged reports whether HubSpot's contact differs from the stored
// one in anything clvsync keeps (not its modification date).
func contactChanged(stored, c state.Contact) bool {
	return stored.Email != c.Email || stored.Name != c.Name || stored.Source != c.Source ||
		stored.CompanyID != c.CompanyID || !stored.CreatedAt.Equal(c.CreatedAt) || !sameIDs(stored.MergedIDs, c.MergedIDs)
}

// sameIDs reports whether two id lists hold the same ids, in any order
// (the store keeps merged ids sorted; HubSpot lists them as merged).
func sameIDs(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// mergedInto returns the ids merged into survivor c (its
// hs_merged_object_ids) that match reports true for, in c's order.
func mergedInto(c state.Contact, match func(id string) (bool, error)) ([]string, error) {
	var merged []string
	for _, id := range c.MergedIDs {
		if ok, err := match(id); err != nil {
			return nil, err
		} else if ok {
			merged = append(merged, id)
		}
	}
	return merged, nil
}

// fold is the one merge fold: it stores survivor c (when store is set) and
// folds the merged ids into it, so their deals and values move to c.
func (r *Runner) fold(c state.Contact, merged []string, store bool, rep *Summary) error {
	if store {
		if err := r.Store.PutContacts([]state.Contact{c}); err != nil {
			return err
		}
	}
	if len(merged) == 0 {
		return nil
	}
	if err := r.Store.MergeContacts(c.ID, merged); err != nil {
		return err
	}
	rep.Pulled.Merged += len(merged)
	return nil
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

// scanArchived finds deals, contacts and (when synced) companies deleted
// (archived) since the last scan. Search never returns archived records, so this is a list with
// archived=true, filtered by archivedAt.
func (r *Runner) scanArchived(ctx context.Context, rep *Summary) error {
	cur, err := r.Store.Cursor(cursorArchiveScan)
	if err != nil {
		return err
	}
	since := cur.Time.Add(-time.Duration(r.Config.Schedule.OverlapSkew))
	scanStart := r.now()
	type kind struct {
		svc    Objects
		delete func([]string, ...state.Cursor) error
	}
	kinds := []kind{{r.Client.Deals, r.Store.DeleteDeals}, {r.Client.Contacts, r.Store.DeleteContacts}}
	if r.Config.Companies {
		kinds = append(kinds, kind{r.Client.Companies, r.Store.DeleteCompanies})
	}
	// The cursor moves once every kind is scanned, so a run that fails
	// half way scans them all again.
	for _, kind := range kinds {
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
// but the store does not hold yet, 100 per call, the next call in flight
// while the last answer is stored. Ids HubSpot no longer knows (deleted or
// merged away) are removed from the deals that reference them. It repeats
// until nothing is missing: folding a merge can name a survivor not yet read.
func (r *Runner) fetchMissingContacts(ctx context.Context, rep *Summary) error {
	props := contactProperties(r.Config)
	type answer struct {
		ids  []string
		objs []hubspot.Object
	}
	for {
		ids, err := r.Store.MissingContacts(0)
		if err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		reads := func(ctx context.Context) iter.Seq2[answer, error] {
			return func(yield func(answer, error) bool) {
				for chunk := range slices.Chunk(ids, readChunk) {
					objs, err := r.Client.Contacts.BatchRead(ctx, chunk, props)
					if !yield(answer{chunk, objs}, err) || err != nil {
						return
					}
				}
			}
		}
		for a, err := range prefetch(ctx, prefetchDepth, reads) {
			if err != nil {
				return fmt.Errorf("read contacts: %w", err)
			}
			if err := r.storeContacts(a.ids, a.objs, rep); err != nil {
				return err
			}
			r.progress("pull contacts", rep.Pulled.Contacts, 0)
		}
	}
}

// storeContacts stores the contacts HubSpot answered for ids, folds the ids
// it answered with a survivor into that survivor, and drops the rest.
func (r *Runner) storeContacts(ids []string, objs []hubspot.Object, rep *Summary) error {
	found := make(map[string]bool, len(objs))
	contacts := make([]state.Contact, 0, len(objs))
	for _, o := range objs {
		found[o.ID] = true
		contacts = append(contacts, normalizeContact(r.Config, o))
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
		merged, _ := mergedInto(c, inList(gone).match)
		if err := r.fold(c, merged, false, rep); err != nil {
			return err
		}
		gone = slices.DeleteFunc(gone, inList(merged).is)
	}
	if len(gone) > 0 {
		if err := r.Store.DeleteContacts(gone); err != nil {
			return err
		}
		r.Logger.Info("contacts referenced by deals no longer exist in HubSpot", "count", len(gone))
	}
	rep.Pulled.Contacts += len(contacts)
	return nil
}

// inList is a match func for mergedInto over a list of ids.
type inList []string

func (l inList) match(id string) (bool, error) { return slices.Contains(l, id), nil }
func (l inList) is(id string) bool             { return slices.Contains(l, id) }

// contactReader reads the contacts that the deals of a full sync reference
// while the deal pages are still being listed, 100 per batch read, in its
// own goroutine: the two request streams share the rate limit instead of
// the contact reads waiting for the last deal page. What it leaves (a last
// partial batch it was not given, survivors of merges) is read by
// fetchMissingContacts afterwards. Its contacts are stored independently of
// the deal checkpoint; a resumed sync reads again only what is missing.
type contactReader struct {
	r    *Runner
	skip func(id string) bool // already stored (a resumed sync)
	// seen holds a hash of every contact id queued: 8 bytes a contact
	// where the ids themselves took about 50 (at 300k contacts the set
	// was most of the listing's live heap). Two ids with one hash (about
	// one portal in a billion) leave the second to fetchMissingContacts.
	seen   map[uint64]struct{}
	seed   maphash.Seed
	queue  []string
	in     chan []string
	done   chan struct{}
	err    error   // first failure; set by the goroutine, read after done
	counts Summary // what the goroutine pulled
}

func (r *Runner) newContactReader(ctx context.Context, resume bool) *contactReader {
	cr := &contactReader{r: r, seen: map[uint64]struct{}{}, seed: maphash.MakeSeed(), in: make(chan []string, prefetchDepth), done: make(chan struct{})}
	if resume {
		cr.skip = func(id string) bool {
			_, ok, err := r.Store.Contact(id)
			return ok && err == nil
		}
	}
	props := contactProperties(r.Config)
	go func() {
		defer close(cr.done)
		// Several batch reads go into one store transaction: one disk flush
		// per group. Contacts carry no cursor in a full sync (a resumed
		// one reads the missing ones), so a kill loses nothing.
		var ids []string
		var objs []hubspot.Object
		flush := func() {
			if len(ids) > 0 && cr.err == nil {
				cr.err = r.storeContacts(ids, objs, &cr.counts)
			}
			ids, objs = nil, nil
		}
		defer flush()
		for batch := range cr.in {
			if cr.err != nil {
				continue // drain, so add never blocks after a failure
			}
			got, err := r.Client.Contacts.BatchRead(ctx, batch, props)
			if err != nil {
				flush()
				cr.err = errors.Join(cr.err, fmt.Errorf("read contacts: %w", err))
				continue
			}
			ids, objs = append(ids, batch...), append(objs, got...)
			if len(ids) >= contactGroup {
				flush()
			}
		}
	}()
	return cr
}

// add queues the contacts of deals not seen before and hands full batches
// to the goroutine.
func (cr *contactReader) add(deals []state.Deal) {
	for _, d := range deals {
		for _, id := range d.ContactIDs {
			h := maphash.String(cr.seed, id)
			if _, ok := cr.seen[h]; ok {
				continue
			}
			cr.seen[h] = struct{}{}
			if cr.skip == nil || !cr.skip(id) {
				cr.queue = append(cr.queue, id)
			}
		}
	}
	for len(cr.queue) >= readChunk {
		cr.in <- cr.queue[:readChunk:readChunk]
		cr.queue = cr.queue[readChunk:]
	}
}

// close hands over the last partial batch, waits for the goroutine, adds
// its counts to rep and returns its first error.
func (cr *contactReader) close(rep *Summary) error {
	if len(cr.queue) > 0 {
		cr.in <- cr.queue
		cr.queue = nil
	}
	close(cr.in)
	<-cr.done
	rep.Pulled.Contacts += cr.counts.Pulled.Contacts
	rep.Pulled.Merged += cr.counts.Pulled.Merged
	return cr.err
}

// noteWarnings counts the data problems of won deals: those of open or lost
// deals do not affect any value.
func (r *Runner) noteWarnings(deals []state.Deal, rep *Summary) {
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
