// Package fakehub is an in-memory, faithful HubSpot CRM server: the portal
// behind `clvsync demo`, every integration test and benchmark, and a safe
// place for users to try clvsync. HubSpot's official client libraries work
// against it unchanged. It re-implements HubSpot from the public facts
// (shared/hubspot-api.md, the official OpenAPI specs and recorded
// responses); it imports nothing of clvsync.
//
// # API served
//
// Both path families, with HubSpot's JSON shapes, limits and error bodies:
//
//	/crm/v3/objects/{objectType}[/{id}|/search|/batch/{read,update,create,archive}|/merge]
//	/crm/objects/2026-09/{objectType}[...]                  (same endpoints)
//	/crm/v4/associations/{from}/{to}/batch/read            /crm/associations/2026-09/{from}/{to}/batch/read
//	/crm/v4/objects/{type}/{id}/associations/{to}[/{toId}]  /crm/objects/2026-09/{type}/{id}/associations/...
//	/crm/v3/properties/{objectType}[/{name}|/groups[/{name}]|/batch/{create,read}]  and /crm/properties/2026-09/...
//	/crm/v3/pipelines/{objectType}[/{pipelineId}[/stages]] and /crm/pipelines/2026-09/...
//	/account-info/v3/details, /account-info/v3/api-usage/daily/private-apps and the 2026-09 forms
//
// Object types are accepted by name (contacts, companies, deals, singular
// too) and by id (0-1, 0-2, 0-3). Requests need "Authorization: Bearer
// <Config.Token>"; a wrong or missing token gets 401 INVALID_AUTHENTICATION.
//
// Rate limits follow HubSpot's private-app rules: a rolling ten-second
// window per token sized by tier, search at 5 requests per second (search
// and association batch reads are exempt from the ten-second window), a
// daily counter, X-HubSpot-RateLimit-* headers on non-search responses and
// HubSpot's 429 bodies. Config.LimitScale multiplies the limits.
//
// # Admin endpoints
//
// Under /_fakehub/ (not part of HubSpot's API; no auth, never faulted or
// rate limited):
//
//	GET  /_fakehub/stats        Stats as JSON: requests by "METHOD /route-template",
//	                            totalRequests, rateLimited (429s sent), recordsWritten
//	                            (contacts updated via update/batch update), writesByType,
//	                            objects (live/archived counts per type)
//	POST /_fakehub/stats/reset  zero the counters and the rate-limit windows
//	GET  /_fakehub/faults       current faults
//	POST /_fakehub/faults       change faults: {"spec":"429=0.05,slow=0.02:2s"} or the
//	                            field form {"rateLimit":0.05,"status500":0.02,"status502":0,
//	                            "status503":0,"reset":0,"slow":0,"slowDelay":"2s",
//	                            "truncate":0,"seed":1,"revokeToken":true,"denyScopes":[...]};
//	                            fields left out keep their values. "revokeToken":true makes
//	                            every API request answer 401 until set back to false.
//	GET  /_fakehub/webhooks     webhook target {"url","timeScale","secretSet","stats":{events,
//	                            delivered,attempts,failures,dropped,pending}}; never the secret
//	POST /_fakehub/webhooks     {"url":"http://...","secret":"...","timeScale":0.001}; fields
//	                            left out keep their values; "url":"" turns webhooks off
//
// # Webhooks
//
// With Config.WebhookURL and Config.WebhookSecret (or the admin endpoint)
// set, every change made through the API is POSTed to the URL as HubSpot
// does: a JSON array of up to 100 events (eventId, subscriptionId,
// portalId, appId, occurredAt, subscriptionType such as
// "deal.propertyChange", "contact.creation", "deal.deletion",
// "deal.associationChange" (both sides), "contact.merge" with
// primaryObjectId, mergedObjectIds and newObjectId, attemptNumber,
// objectId, propertyName, propertyValue, changeSource "INTEGRATION"),
// signed with signature v3 (SignWebhookV3; X-HubSpot-Signature-v3 and
// X-HubSpot-Request-Timestamp from Config.Clock). A delivery that fails
// (non-2xx, no answer within 5 s) is retried up to 10 times following
// WebhookRetrySchedule scaled by Config.WebhookTimeScale. Delivery is
// asynchronous and never blocks an API call; Hub.Close stops it. Seeding
// fires no events. fakehub has no restore endpoint, so no restore events.
//
// # Merges
//
// Merging two contacts or two companies creates a new record with a new id
// (HubSpot's current behaviour): the primary's values win, the other fills
// gaps, hs_merged_object_ids lists both old ids ("old1;old2", plus ids they
// had absorbed), associations of both move to it, both old ids resolve to
// it on GET, association writes and further merges, and both are gone from
// lists and search. Config.MergeKeepsPrimaryID restores the old behaviour
// (the primary keeps its id); deals always keep the primary's id.
//
// # Search lag
//
// Config.SearchLag delays what search sees, as HubSpot's index does: for
// that long after a create, update, delete or merge (measured on
// Config.Clock) search shows the record's previous state (or nothing, for
// a new record), while GET, list and batch read see the change at once.
// Zero (the default) means no lag; `clvsync fakehub` and the demo should use
// a few seconds.
//
// # Seeded portal
//
// New(Config{Contacts: N, Seed: S}) generates a portal deterministically from
// (Seed, Contacts, Anchor): contacts created over four years before Anchor
// with acquisition sources of different mix and customer quality, companies
// shared by contacts, and closed-won deals following a known buy-till-you-die
// process (see ProcessParams and Hub.TrueParams), plus lost and open deals,
// several currencies, whales with more than 100 deals, merged and archived
// records and a few deals with bad data (no amount, no close date, a close
// date in the future).
//
// # Deviations and choices
//
// Where the OpenAPI specs and hubspot-api.md disagree fakehub follows
// hubspot-api.md (5 filter groups, object-form sorts, 207 on batch update in
// the 2026-09 family too). Behaviour HubSpot has not confirmed is
// configurable: Config.RetryAfter (off), Config.BatchUpdateMergedAsError
// (off: merged-away ids are silently left out of batch update results).
package fakehub
