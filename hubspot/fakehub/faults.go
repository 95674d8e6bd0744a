package fakehub

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Faults describes injected failures. Each rate is the share of API
// requests (0..1) answered that way; the draws are deterministic given Seed.
// Admin endpoints are never faulted.
type Faults struct {
	// Seed seeds the fault draws (math/rand/v2 PCG).
	Seed int64 `json:"seed"`
	// RateLimit is the share answered 429 TEN_SECONDLY_ROLLING (secondly
	// on search).
	RateLimit float64 `json:"rateLimit"`
	// Status500, Status502 and Status503 are the shares answered 500, 502, 503.
	Status500 float64 `json:"status500"`
	Status502 float64 `json:"status502"`
	Status503 float64 `json:"status503"`
	// Reset is the share whose connection is closed without an answer.
	Reset float64 `json:"reset"`
	// Slow is the share answered normally after SlowDelay (default 2s).
	Slow      float64       `json:"slow"`
	SlowDelay time.Duration `json:"slowDelay"`
	// Truncate is the share whose JSON body is cut in half.
	Truncate float64 `json:"truncate"`
	// RevokeToken makes every API request answer 401 until cleared.
	RevokeToken bool `json:"revokeToken"`
	// DenyScopes lists scopes treated as not granted (403 MISSING_SCOPES).
	DenyScopes []string `json:"denyScopes,omitempty"`
	// RejectIDs lists record ids whose updates the portal refuses, as a
	// portal validation rule would: a batch update holding one of them is
	// answered 400 VALIDATION_ERROR naming it, and nothing in that batch is
	// written.
	RejectIDs []string `json:"rejectIds,omitempty"`
}

func (f Faults) validate() error {
	sum := 0.0
	for name, v := range map[string]float64{"429": f.RateLimit, "500": f.Status500, "502": f.Status502,
		"503": f.Status503, "reset": f.Reset, "slow": f.Slow, "truncate": f.Truncate} {
		if v < 0 || v > 1 {
			return fmt.Errorf("fakehub: fault %s rate %g must be within [0, 1]", name, v)
		}
		sum += v
	}
	if sum > 1+1e-9 {
		return fmt.Errorf("fakehub: fault rates add up to %g, more than 1", sum)
	}
	if f.SlowDelay < 0 {
		return fmt.Errorf("fakehub: slow delay %s must be >= 0", f.SlowDelay)
	}
	return nil
}

// ParseFaults parses the CLI form, e.g.
// "429=0.05,500=0.02,502=0.01,503=0.01,reset=0.01,slow=0.02:2s,truncate=0.01".
// Also accepted: "seed=N", "revoke" (or revoke=true) and "deny=scope".
func ParseFaults(s string) (Faults, error) {
	var f Faults
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		key, val, _ := strings.Cut(part, "=")
		rate := func() (float64, error) {
			r, err := strconv.ParseFloat(val, 64)
			if err != nil {
				return 0, fmt.Errorf("fakehub: fault %q: rate %q: %w", key, val, err)
			}
			return r, nil
		}
		var err error
		switch key {
		case "429":
			f.RateLimit, err = rate()
		case "500":
			f.Status500, err = rate()
		case "502":
			f.Status502, err = rate()
		case "503":
			f.Status503, err = rate()
		case "reset":
			f.Reset, err = rate()
		case "truncate":
			f.Truncate, err = rate()
		case "slow":
			r, d, hasDelay := strings.Cut(val, ":")
			val = r
			f.Slow, err = rate()
			if err == nil && hasDelay {
				f.SlowDelay, err = time.ParseDuration(d)
				if err != nil {
					err = fmt.Errorf("fakehub: fault slow: delay %q: %w", d, err)
				}
			}
		case "seed":
			f.Seed, err = strconv.ParseInt(val, 10, 64)
		case "revoke":
			f.RevokeToken = val == "" || val == "true"
		case "deny":
			f.DenyScopes = append(f.DenyScopes, val)
		default:
			return Faults{}, fmt.Errorf("fakehub: unknown fault %q (want 429, 500, 502, 503, reset, slow, truncate, seed, revoke, deny)", key)
		}
		if err != nil {
			return Faults{}, err
		}
	}
	return f, f.validate()
}

// String renders f in the ParseFaults form.
func (f Faults) String() string {
	var parts []string
	add := func(k string, v float64) {
		if v > 0 {
			parts = append(parts, k+"="+strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	add("429", f.RateLimit)
	add("500", f.Status500)
	add("502", f.Status502)
	add("503", f.Status503)
	add("reset", f.Reset)
	if f.Slow > 0 {
		parts = append(parts, "slow="+strconv.FormatFloat(f.Slow, 'g', -1, 64)+":"+f.slowDelay().String())
	}
	add("truncate", f.Truncate)
	if f.Seed != 0 {
		parts = append(parts, "seed="+strconv.FormatInt(f.Seed, 10))
	}
	if f.RevokeToken {
		parts = append(parts, "revoke")
	}
	sort.Strings(f.DenyScopes)
	for _, s := range f.DenyScopes {
		parts = append(parts, "deny="+s)
	}
	return strings.Join(parts, ",")
}

func (f Faults) slowDelay() time.Duration {
	if f.SlowDelay == 0 {
		return 2 * time.Second
	}
	return f.SlowDelay
}

// SetFaults replaces the fault configuration and restarts the fault draws
// from f.Seed.
func (h *Hub) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	h.faultsMu.Lock()
	defer h.faultsMu.Unlock()
	h.setFaultsLocked(f)
	return nil
}

// Faults returns the current fault configuration.
func (h *Hub) Faults() Faults {
	h.faultsMu.Lock()
	defer h.faultsMu.Unlock()
	return h.faults
}

// rejectedIDs returns the ids among ids that Faults.RejectIDs refuses.
func (h *Hub) rejectedIDs(ids []string) []string {
	h.faultsMu.Lock()
	defer h.faultsMu.Unlock()
	var out []string
	for _, id := range ids {
		if slices.Contains(h.faults.RejectIDs, id) {
			out = append(out, id)
		}
	}
	return out
}

func (h *Hub) setFaultsLocked(f Faults) {
	h.faults = f
	h.faultRand = rand.New(rand.NewPCG(uint64(f.Seed), 0xfa017))
}

type faultKind int

const (
	faultNone faultKind = iota
	faultStatus
	faultReset
	faultSlow
	faultTruncate
)

type fault struct {
	kind   faultKind
	status int
	delay  time.Duration
}

func (h *Hub) drawFault() fault {
	h.faultsMu.Lock()
	defer h.faultsMu.Unlock()
	f := h.faults
	if f.RateLimit+f.Status500+f.Status502+f.Status503+f.Reset+f.Slow+f.Truncate == 0 {
		return fault{}
	}
	u := h.faultRand.Float64()
	for _, c := range []struct {
		p  float64
		fa fault
	}{
		{f.RateLimit, fault{kind: faultStatus, status: http.StatusTooManyRequests}},
		{f.Status500, fault{kind: faultStatus, status: http.StatusInternalServerError}},
		{f.Status502, fault{kind: faultStatus, status: http.StatusBadGateway}},
		{f.Status503, fault{kind: faultStatus, status: http.StatusServiceUnavailable}},
		{f.Reset, fault{kind: faultReset}},
		{f.Slow, fault{kind: faultSlow, delay: f.slowDelay()}},
		{f.Truncate, fault{kind: faultTruncate}},
	} {
		if u < c.p {
			return c.fa
		}
		u -= c.p
	}
	return fault{}
}
