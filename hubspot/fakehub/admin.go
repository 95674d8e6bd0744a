package fakehub

import (
	"encoding/json"
	"net/http"
	"time"
)

// Stats counts what the hub has served since it started or was reset.
type Stats struct {
	// Requests counts API requests by "METHOD /route-template", e.g.
	// "GET /crm/v3/objects/{objectType}".
	Requests map[string]int64 `json:"requests"`
	// TotalRequests counts all API requests (admin endpoints excluded).
	TotalRequests int64 `json:"totalRequests"`
	// RateLimited counts 429 answers (real and injected).
	RateLimited int64 `json:"rateLimited"`
	// RecordsWritten counts contact records whose properties were updated
	// via update or batch update (creates and merges excluded).
	RecordsWritten int64 `json:"recordsWritten"`
	// WritesByType counts record writes (create, update, merge) per type.
	WritesByType map[string]int64 `json:"writesByType"`
	// Objects counts records per type: live and archived.
	Objects map[string]ObjectCount `json:"objects"`
}

// ObjectCount is the number of live and archived records of one type.
type ObjectCount struct {
	Live     int `json:"live"`
	Archived int `json:"archived"`
}

func (h *Hub) countRequest(pattern string) {
	h.statsMu.Lock()
	h.stats.Requests[pattern]++
	h.stats.TotalRequests++
	h.statsMu.Unlock()
}

func (h *Hub) countRateLimited() {
	h.statsMu.Lock()
	h.stats.RateLimited++
	h.statsMu.Unlock()
}

// countWrite is called with h.mu held; it only touches stats.
func (h *Hub) countWrite(t objType) {
	h.statsMu.Lock()
	if h.stats.WritesByType == nil {
		h.stats.WritesByType = map[string]int64{}
	}
	h.stats.WritesByType[t.String()]++
	h.statsMu.Unlock()
}

// countContactUpdate counts one contact property update (RecordsWritten).
func (h *Hub) countContactUpdate() {
	h.statsMu.Lock()
	h.stats.RecordsWritten++
	h.statsMu.Unlock()
}

// Stats returns a snapshot of the counters and per-type record counts.
func (h *Hub) Stats() Stats {
	h.statsMu.Lock()
	s := Stats{Requests: make(map[string]int64, len(h.stats.Requests)), TotalRequests: h.stats.TotalRequests,
		RateLimited: h.stats.RateLimited, RecordsWritten: h.stats.RecordsWritten, WritesByType: map[string]int64{}}
	for k, v := range h.stats.Requests {
		s.Requests[k] = v
	}
	for k, v := range h.stats.WritesByType {
		s.WritesByType[k] = v
	}
	h.statsMu.Unlock()
	s.Objects = map[string]ObjectCount{}
	for t := range numTypes {
		s.Objects[objType(t).String()] = h.Count(objType(t).String())
	}
	return s
}

// Count returns the live and archived record counts of an object type
// ("contacts", "deals", "companies" or their ids); merged-away records are
// in neither.
func (h *Hub) Count(objectType string) ObjectCount {
	t, ok := parseObjType(objectType)
	if !ok {
		return ObjectCount{}
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	var c ObjectCount
	for i := range h.objects[t].recs {
		r := &h.objects[t].recs[i]
		switch {
		case r.mergedInto != 0:
		case r.archivedAt != 0:
			c.Archived++
		default:
			c.Live++
		}
	}
	return c
}

// ResetStats zeroes the counters and the rate-limit windows.
func (h *Hub) ResetStats() {
	h.statsMu.Lock()
	h.stats = Stats{Requests: map[string]int64{}}
	h.statsMu.Unlock()
	h.limit.reset()
}

// faultsJSON is the admin form of Faults: durations as strings.
type faultsJSON struct {
	Seed        int64    `json:"seed"`
	RateLimit   float64  `json:"rateLimit"`
	Status500   float64  `json:"status500"`
	Status502   float64  `json:"status502"`
	Status503   float64  `json:"status503"`
	Reset       float64  `json:"reset"`
	Slow        float64  `json:"slow"`
	SlowDelay   string   `json:"slowDelay"`
	Truncate    float64  `json:"truncate"`
	RevokeToken bool     `json:"revokeToken"`
	DenyScopes  []string `json:"denyScopes"`
	Spec        string   `json:"spec,omitempty"`
}

func toFaultsJSON(f Faults) faultsJSON {
	return faultsJSON{Seed: f.Seed, RateLimit: f.RateLimit, Status500: f.Status500, Status502: f.Status502,
		Status503: f.Status503, Reset: f.Reset, Slow: f.Slow, SlowDelay: f.slowDelay().String(), Truncate: f.Truncate,
		RevokeToken: f.RevokeToken, DenyScopes: append([]string{}, f.DenyScopes...), Spec: f.String()}
}

func adminJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (h *Hub) serveAdmin(w http.ResponseWriter, r *http.Request) {
	bad := func(msg string) { adminJSON(w, http.StatusBadRequest, map[string]string{"error": msg}) }
	switch r.Method + " " + r.URL.Path {
	case "GET /_fakehub/stats":
		adminJSON(w, http.StatusOK, h.Stats())
	case "POST /_fakehub/stats/reset":
		h.ResetStats()
		adminJSON(w, http.StatusOK, h.Stats())
	case "GET /_fakehub/faults":
		adminJSON(w, http.StatusOK, toFaultsJSON(h.Faults()))
	case "POST /_fakehub/faults":
		// Either {"spec":"429=0.05,..."} or the field form; absent fields
		// keep their current values.
		cur := toFaultsJSON(h.Faults())
		cur.Spec = ""
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&cur); err != nil {
			bad("invalid JSON: " + err.Error())
			return
		}
		var f Faults
		if cur.Spec != "" {
			var err error
			if f, err = ParseFaults(cur.Spec); err != nil {
				bad(err.Error())
				return
			}
		} else {
			f = Faults{Seed: cur.Seed, RateLimit: cur.RateLimit, Status500: cur.Status500, Status502: cur.Status502,
				Status503: cur.Status503, Reset: cur.Reset, Slow: cur.Slow, Truncate: cur.Truncate,
				RevokeToken: cur.RevokeToken, DenyScopes: cur.DenyScopes}
			if cur.SlowDelay != "" {
				d, err := time.ParseDuration(cur.SlowDelay)
				if err != nil {
					bad("slowDelay: " + err.Error())
					return
				}
				f.SlowDelay = d
			}
		}
		if err := h.SetFaults(f); err != nil {
			bad(err.Error())
			return
		}
		adminJSON(w, http.StatusOK, toFaultsJSON(h.Faults()))
	case "GET /_fakehub/webhooks":
		adminJSON(w, http.StatusOK, h.webhooksJSON())
	case "POST /_fakehub/webhooks":
		// {"url":..., "secret":..., "timeScale":...}; absent fields keep
		// their values. The secret is never echoed.
		h.wh.mu.Lock()
		cur := h.wh.settings
		h.wh.mu.Unlock()
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&cur); err != nil {
			bad("invalid JSON: " + err.Error())
			return
		}
		if err := h.SetWebhooks(cur); err != nil {
			bad(err.Error())
			return
		}
		adminJSON(w, http.StatusOK, h.webhooksJSON())
	default:
		adminJSON(w, http.StatusNotFound, map[string]string{"error": "unknown admin endpoint " + r.Method + " " + r.URL.Path})
	}
}

type webhooksJSON struct {
	WebhookSettings
	SecretSet bool         `json:"secretSet"`
	Stats     WebhookStats `json:"stats"`
}

func (h *Hub) webhooksJSON() webhooksJSON {
	h.wh.mu.Lock()
	set := h.wh.settings.Secret != ""
	h.wh.mu.Unlock()
	return webhooksJSON{WebhookSettings: h.Webhooks(), SecretSet: set, Stats: h.WebhookStats()}
}
