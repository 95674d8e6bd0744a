package hubspot

import (
	"net/url"
	"strings"
)

// paths builds request paths for one API version. Every path segment taken
// from the caller is escaped.
type paths struct{ version string }

func (p paths) legacy() bool { return p.version == VersionV3 }

func join(prefix string, segs ...string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, s := range segs {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}

// objects: /crm/objects/2026-09/{type}[/...] or /crm/v3/objects/{type}[/...].
func (p paths) objects(objectType string, rest ...string) string {
	prefix := "/crm/objects/" + p.version
	if p.legacy() {
		prefix = "/crm/v3/objects"
	}
	return join(prefix, append([]string{objectType}, rest...)...)
}

// associationsBatchRead: /crm/associations/2026-09/{from}/{to}/batch/read or
// /crm/v4/associations/{from}/{to}/batch/read.
func (p paths) associationsBatchRead(from, to string) string {
	prefix := "/crm/associations/" + p.version
	if p.legacy() {
		prefix = "/crm/v4/associations"
	}
	return join(prefix, from, to) + "/batch/read"
}

// associationDefault: PUT /crm/objects/2026-09/{from}/{fromId}/associations/default/{to}/{toId}
// or /crm/v4/objects/... .
func (p paths) associationDefault(from, fromID, to, toID string) string {
	prefix := "/crm/objects/" + p.version
	if p.legacy() {
		prefix = "/crm/v4/objects"
	}
	return join(prefix, from, fromID) + "/associations/default" + join("", to, toID)
}

// association: /crm/objects/2026-09/{from}/{fromId}/associations/{to}/{toId}
// or /crm/v4/objects/... .
func (p paths) association(from, fromID, to, toID string) string {
	prefix := "/crm/objects/" + p.version
	if p.legacy() {
		prefix = "/crm/v4/objects"
	}
	return join(prefix, from, fromID) + "/associations" + join("", to, toID)
}

// properties: /crm/properties/2026-09/{type}[/...] or /crm/v3/properties/{type}[/...].
func (p paths) properties(objectType string, rest ...string) string {
	prefix := "/crm/properties/" + p.version
	if p.legacy() {
		prefix = "/crm/v3/properties"
	}
	return join(prefix, append([]string{objectType}, rest...)...)
}

// pipelines: /crm/pipelines/2026-09/{type} or /crm/v3/pipelines/{type}.
func (p paths) pipelines(objectType string, rest ...string) string {
	prefix := "/crm/pipelines/" + p.version
	if p.legacy() {
		prefix = "/crm/v3/pipelines"
	}
	return join(prefix, append([]string{objectType}, rest...)...)
}

// account: /account-info/2026-09/{rest} or /account-info/v3/{rest}.
func (p paths) account(rest string) string {
	return "/account-info/" + p.version + "/" + rest
}
