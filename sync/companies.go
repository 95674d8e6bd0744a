package sync

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/state"
)

// cursorCompanies is the incremental high-water mark of companies
// (hs_lastmodifieddate). Deleted companies are found by scanArchived with
// deals and contacts.
const cursorCompanies = "companies"

// companyProperties returns the company properties a pull requests.
func companyProperties() []string {
	return []string{"createdate", "hs_lastmodifieddate", "name"}
}

// normalizeCompany turns a HubSpot company into the stored record.
func normalizeCompany(o hubspot.Object) state.Company {
	p := o.Properties
	return state.Company{
		ID:         o.ID,
		Name:       strings.TrimSpace(p["name"]),
		CreatedAt:  parseTime(p["createdate"], o.CreatedAt),
		ModifiedAt: parseTime(p["hs_lastmodifieddate"], o.UpdatedAt),
	}
}

// pullCompanies keeps the companies that stored deals and contacts refer
// to in the store, so reports can name them. It does nothing unless
// companies is on. A full pull (the store was just reset) reads every
// missing company and starts the companies cursor at the time it began. An
// incremental pull updates stored companies modified since the cursor, then
// reads the ones newly referenced (scanArchived has removed deleted ones). A companies cursor that was never set (companies was
// turned on without a full resync) is treated as a full pull, so the first
// incremental run does not search every company in the portal.
func (r *Runner) pullCompanies(ctx context.Context, full bool, rep *Summary) error {
	if !r.Config.Companies {
		return nil
	}
	start := r.now()
	cur, err := r.Store.Cursor(cursorCompanies)
	if err != nil {
		return err
	}
	if full || cur.Time.IsZero() {
		if err := r.fetchMissingCompanies(ctx, rep); err != nil {
			return err
		}
		// Every company stored was read after start: whatever changes from
		// here on is found by the next incremental search and scan.
		return r.Store.SetCursors(state.Cursor{Name: cursorCompanies, Time: start})
	}
	if err := r.incrementalCompanies(ctx, rep); err != nil {
		return err
	}
	return r.fetchMissingCompanies(ctx, rep)
}

// fetchMissingCompanies batch-reads every company that stored deals or
// contacts refer to but the store does not hold, 100 per call. Ids HubSpot
// does not return (deleted, or merged into another company) are removed
// with DeleteCompanies, which drops them from the deals that list them. A
// contact's CompanyID is HubSpot's property and is kept, so such an id stays
// missing; it is skipped for the rest of this call and asked for again on
// the next run.
//
// The missing ids are listed once per pass rather than 100 at a time:
// listing them reads every stored contact.
func (r *Runner) fetchMissingCompanies(ctx context.Context, rep *Summary) error {
	props := companyProperties()
	gone := map[string]bool{} // asked for and not returned, in this call
	pulled := 0
	for {
		ids, err := r.Store.MissingCompanies(0)
		if err != nil {
			return err
		}
		ids = slices.DeleteFunc(ids, func(id string) bool { return gone[id] })
		if len(ids) == 0 {
			break
		}
		total := pulled + len(ids)
		for chunk := range slices.Chunk(ids, readChunk) {
			objs, err := r.Client.Companies.BatchRead(ctx, chunk, props)
			if err != nil {
				return fmt.Errorf("read companies: %w", err)
			}
			found := make(map[string]bool, len(objs))
			companies := make([]state.Company, 0, len(objs))
			for _, o := range objs {
				found[o.ID] = true
				companies = append(companies, normalizeCompany(o))
			}
			var missing []string
			for _, id := range chunk {
				if !found[id] {
					missing = append(missing, id)
					gone[id] = true
				}
			}
			if err := r.Store.PutCompanies(companies); err != nil {
				return err
			}
			if len(missing) > 0 {
				if err := r.Store.DeleteCompanies(missing); err != nil {
					return err
				}
			}
			pulled += len(companies)
			r.progress("pull companies", pulled, total)
		}
	}
	rep.Pulled.Companies += pulled
	if pulled > 0 || len(gone) > 0 {
		r.Logger.Info("companies read", "count", pulled, "not_in_hubspot", len(gone))
	}
	return nil
}

// incrementalCompanies searches companies modified since the cursor and
// updates those already stored whose kept fields changed (clvsync's own
// write-back touches every company it writes); a company nothing refers to
// does not matter. Each chunk moves the cursor in the same transaction.
func (r *Runner) incrementalCompanies(ctx context.Context, rep *Summary) error {
	pulled := 0
	search := func(since time.Time) iter.Seq2[hubspot.Object, error] {
		return r.Client.Companies.ModifiedSinceWhere(ctx, since, companyProperties())
	}
	keep := func(o hubspot.Object, _ func() error) (state.Company, time.Time, bool, error) {
		c := normalizeCompany(o)
		stored, known, err := r.Store.Company(c.ID)
		changed := stored.Name != c.Name || !stored.CreatedAt.Equal(c.CreatedAt)
		return c, c.ModifiedAt, known && changed, err
	}
	put := func(batch []state.Company, c state.Cursor) error {
		if err := r.Store.PutCompanies(batch, c); err != nil {
			return err
		}
		pulled += len(batch)
		return nil
	}
	if err := searchModified(ctx, r, cursorCompanies, "companies", search, keep, put); err != nil {
		return err
	}
	rep.Pulled.Companies += pulled
	if pulled > 0 {
		r.Logger.Info("modified companies updated", "count", pulled)
	}
	return nil
}
