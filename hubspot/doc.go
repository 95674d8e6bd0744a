// Package hubspot is clvsync's HubSpot CRM API client.
//
// It owns authentication, request building, the JSON wire types, typed errors,
// paging, retries and client-side rate limiting. It holds no CLV logic, no
// storage and no logging policy: callers get typed errors back, and an
// optional [slog.Logger] only receives per-request debug lines (the token is
// never written anywhere).
//
// One [Client] serves both HubSpot path families with the same Go API, chosen
// by [Options.APIVersion]:
//
//   - "2026-09" (default): date-versioned paths such as
//     /crm/objects/2026-09/contacts, /crm/associations/2026-09/{from}/{to}/batch/read,
//     /crm/properties/2026-09/{type}, /crm/pipelines/2026-09/{type} and
//     /account-info/2026-09/details.
//   - "v3": the legacy /crm/v3/..., /crm/v4/associations/... and
//     /account-info/v3/... paths (unsupported by HubSpot from 2027).
//
// Paging is exposed as iterators ([ObjectsService.Pages], [ObjectsService.All],
// [ObjectsService.ModifiedSince]) that take their options by value, so the
// caller's options are never changed.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/understanding-the-crm
package hubspot
