package sync

import (
	"context"
	"fmt"
	"iter"
	"strconv"
	"time"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/state"
)

// metaReadBack counts the contacts written since the contact cursor: the
// next contact search returns them all (writing a property changes a
// contact's modified date), 200 a page at the search limit.
const metaReadBack = "contacts_read_back"

// noteWritten adds a write-back's contacts to the read-back pending.
func (r *Runner) noteWritten(n int) error {
	if n == 0 || r.companies() {
		return nil
	}
	pending, err := r.readBackPending()
	if err != nil {
		return err
	}
	return r.Store.SetMeta(metaReadBack, strconv.Itoa(pending+n))
}

// readBackPending is the count of contacts written since the contact
// cursor (0 when none was kept).
func (r *Runner) readBackPending() (int, error) {
	raw, err := r.Store.Meta(metaReadBack)
	if err != nil {
		return 0, err
	}
	pending, _ := strconv.Atoi(raw)
	return pending, nil
}

// listReadBack decides how this run reads the contacts modified since its
// cursor: by search (200 a page, at HubSpot's 5 searches a second), or, when
// clvsync's own last write-back makes that read long, by listing every
// contact of the portal (100 a page, at the general rate limit). After a
// full sync's write-back of 246,399 contacts the search takes 1,232 pages,
// about 5 minutes; listing the portal's 300,000 contacts takes 3,000 calls:
// 20 s at 10x the Professional limit, 3.3 minutes at the real one. The
// listing costs one search (the portal's contact count), asked only when
// the customers alone would not make listing the dearer way.
func (r *Runner) listReadBack(ctx context.Context) (bool, error) {
	if r.Client.Rates == nil {
		return false, nil
	}
	pending, err := r.readBackPending()
	if err != nil {
		return false, err
	}
	general, search := r.Client.Rates()
	if pending <= 0 || general <= 0 || search <= 0 {
		return false, nil
	}
	searching := float64(pending) / searchPage / search
	b, _ := r.basisHead() // its customer count; the tier values are not needed
	if float64(b.Customers)/listPage/general >= searching {
		return false, nil // the portal has at least its customers
	}
	s, ok := r.Client.Contacts.(interface {
		Search(ctx context.Context, req hubspot.SearchRequest) (*hubspot.SearchPage, error)
	})
	if !ok {
		return false, nil
	}
	page, err := s.Search(ctx, hubspot.SearchRequest{Limit: 1})
	if err != nil {
		return false, fmt.Errorf("count contacts: %w", err)
	}
	listing := float64(page.Total) / listPage / general
	if listing >= searching {
		return false, nil
	}
	r.Logger.Info("reading contacts back by listing the portal", "written_since_cursor", pending, "contacts", page.Total,
		"search_seconds", int(searching), "list_seconds", int(listing))
	return true, nil
}

// Page sizes: a search page holds 200 records, a list page 100.
const (
	searchPage = 200
	listPage   = 100
)

// listContacts lists every contact of the portal and treats each as the
// contact search would (keep, put), then moves the contact cursor to the
// listing's start: whatever changes while it runs, the next search finds.
// A run killed during the listing leaves the cursor and the read-back count
// as they were, and the next run decides again.
func (r *Runner) listContacts(ctx context.Context, keep func(hubspot.Object, func() error) (state.Contact, time.Time, bool, error),
	put func([]state.Contact) error) error {
	start := r.now()
	opts := hubspot.ListOptions{Limit: listPage, Properties: contactProperties(r.Config)}
	var batch []state.Contact
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := put(batch)
		batch = batch[:0]
		return err
	}
	pages := func(ctx context.Context) iter.Seq2[*hubspot.Page, error] { return r.Client.Contacts.Pages(ctx, opts) }
	n := 0
	for page, err := range prefetch(ctx, prefetchDepth, pages) {
		if err != nil {
			return fmt.Errorf("list contacts: %w", err)
		}
		for _, o := range page.Results {
			c, _, ok, err := keep(o, flush)
			if err != nil {
				return err
			}
			if ok {
				if batch = append(batch, c); len(batch) >= incrementalChunk {
					if err := flush(); err != nil {
						return err
					}
				}
			}
		}
		if n++; n%2 == 0 {
			r.trimMapped() // keep looks contacts up one by one
		}
	}
	if err := flush(); err != nil {
		return err
	}
	return r.Store.SetCursors(state.Cursor{Name: cursorContacts, Time: start})
}
