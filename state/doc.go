// Package state persists clvsync's data in one bbolt file.
//
// The package owns the file format only: buckets, key encodings and
// transactions. It makes no network calls and does no CLV math. Every
// exported method runs its own short transaction, decodes what it reads into
// fresh Go values before the transaction ends, and never holds bolt memory
// afterwards. Store is safe for concurrent use.
//
// # Schema v2
//
// The separator byte in composite keys is 0x00 ("·" below). Ids are HubSpot
// object ids treated as opaque strings; they must be non-empty, at most
// MaxIDLen bytes and must not contain 0x00, so "12·…" can never be confused
// with "123·…" in a prefix scan, and all keys of one contact sort together
// (0x00 sorts before every byte an id may contain). run ids are 8-byte
// big-endian uint64, so byte order is numeric order.
//
// Deal, contact, computed, written and history values are binary records
// (codec.go): a format byte 0x02, then the fields in a fixed order as
// varints, length-prefixed strings, times as Unix seconds and nanoseconds
// (UTC), money as its decimal string, and maps as numbers of names interned
// in meta/value_keys. Schema v1 stored them as JSON; such records (first
// byte '{') are still read and are rewritten in binary when they change.
// Cursors, companies, failures, runs and meta values are JSON or text.
//
//	meta/           schema_version          -> "2" (decimal ASCII)
//	                value_keys              -> interned map key names, one per line
//	                hubspot_portal_id       -> the portal the file belongs to (CheckPortal)
//	                <name>                  -> free-form string (e.g. mapping_hash;
//	                                           model: the sync package's stored model)
//	deals/          <dealID>                -> dealRecord: amount, currency,
//	                                           home_amount, close_date, created_at,
//	                                           stage, pipeline, won, contacts,
//	                                           primary_contact, companies,
//	                                           primary_company, modified_at, warnings
//	contacts/       <contactID>             -> contactRecord: email, name,
//	                                           created_at, source, company,
//	                                           merged_ids, modified_at, stub
//	companies/      <companyID>             -> JSON companyRecord
//	contact_deals/  <contactID>·<dealID>    -> "" (contact -> deals index)
//	company_deals/  <companyID>·<dealID>    -> "" (company -> deals index)
//	cursors/        <name>                  -> JSON {time, after}
//	computed/       <contactID>             -> latest Result (run id, values, clv, tier, segment)
//	written/        <contactID>             -> what HubSpot accepted (values, at, since)
//	history/        <contactID>·<runID BE8> -> {at, clv, tier, segment}
//	failures/       <contactID>             -> JSON {category, message, at, attempts}
//	runs/           <runID BE8>             -> JSON Run (bucket sequence assigns ids)
//	company_computed/, company_written/, company_history/, company_failures/
//	                <companyID>...          -> the same records for companies as
//	                                           customers (companies: true; Store.CompanyUnit)
//	dirty/          <contactID>             -> "" (inputs changed since last computed; see Store.Dirty)
//	company_dirty/  <companyID>             -> "" (the same for companies)
//	                NUL                     -> "" (every customer: a deletion or merge)
//
// Associations are stored in both directions: deal -> contacts/companies is
// the authoritative list inside the deal record, and contact_deals /
// company_deals are the reverse indices, rewritten in the same transaction
// whenever a deal changes ("all deals of contact X" is one prefix scan of
// "X·"). Segment state ("since when has this contact been in this segment")
// lives in the written record's since map.
//
// # Versions and migrations
//
// Open creates every bucket and meta/schema_version in one Update. A file
// with a newer schema_version is refused (ErrNewerSchema); an older one is
// upgraded through the migrations table, all steps in that same Update, so a
// crash mid-migration leaves the old version intact. Schema v0 is the layout
// of pre-release builds: the same buckets without failures, no
// schema_version key, and cursors values stored as bare RFC 3339 timestamps.
// v1 to v2 changes no bytes (see migrateV1toV2); v2 to v3 adds the company
// unit's buckets, empty (see migrateV2toV3); v3 to v4 adds the dirty
// buckets, empty (see migrateV3toV4).
// A bbolt file holding buckets this package does not know, or a file that is
// not a bbolt database at all, is refused with ErrNotStateFile.
//
// # Crash safety
//
// Data and the sync cursor that covers it are written in the same Update
// (PutDeals, PutContacts, ... take the cursors to set), so a run killed at any
// point resumes from a cursor that never runs ahead of the stored data. Writes
// whose encoded value equals what is stored are skipped.
//
// # Locking
//
// bbolt takes an exclusive flock on the file. Open waits Options.Timeout for
// it and then fails with an error wrapping ErrLocked that names the holder's
// pid, read from the sidecar file "<path>.pid" written after a successful
// Open and removed by Close. No token or secret is ever stored.
package state
