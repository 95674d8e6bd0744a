package config

import (
	"fmt"
	"maps"
	"net/url"
	"os"
	"strings"
	"time"
)

// WebhooksConfig is the real-time path of `clvsync serve`: HubSpot webhook
// deliveries received, verified, stored and applied between scheduled runs.
type WebhooksConfig struct {
	// Enabled turns the endpoint on; it is off unless configured.
	Enabled bool `yaml:"enabled"`
	// Path is where serve receives deliveries, on operations.listen.
	Path string `yaml:"path"`
	// PublicURL is the URL HubSpot calls (the app's target URL), e.g.
	// https://clv.example.com/webhooks/hubspot. The v3 signature covers it,
	// so behind a proxy it must be what HubSpot sent, not what serve sees.
	// Empty: rebuilt from the request (Host and X-Forwarded-Proto).
	PublicURL string `yaml:"public_url"`
	// ClientSecretFile names a file holding the app's client secret, used
	// when HUBSPOT_CLIENT_SECRET is not set.
	ClientSecretFile string `yaml:"client_secret_file,omitempty"`
	// Quiet is how long the worker waits for events to stop arriving
	// before applying them; MaxDelay bounds the wait in a steady stream.
	Quiet    Duration `yaml:"quiet"`
	MaxDelay Duration `yaml:"max_delay"`
}

// DefaultWebhooks returns the webhook settings used when a key is not set.
func DefaultWebhooks() WebhooksConfig {
	return WebhooksConfig{Path: "/webhooks/hubspot", Quiet: Duration(2 * time.Second), MaxDelay: Duration(10 * time.Second)}
}

func init() {
	maps.Copy(keyComments, map[string]string{
		"schedule.association_refresh_every": "Re-read the contact (and company) associations of every won deal on every Nth\n" +
			"incremental run (1,000 deals per call): moving a deal to another contact does not\n" +
			"change the deal's modified date. 1 = every run, 0 = only on full resyncs.",
		"webhooks": "The real-time path of `clvsync serve` (off unless enabled): HubSpot webhooks for\n" +
			"deal and contact changes, applied within seconds. Needs a HubSpot project app; the\n" +
			"app's client secret comes from HUBSPOT_CLIENT_SECRET or webhooks.client_secret_file.",
		"webhooks.enabled":            "true to receive webhooks on operations.listen.",
		"webhooks.path":               "Path HubSpot posts to (the app's target URL path).",
		"webhooks.public_url":         "The app's full target URL as HubSpot calls it (the signature covers it); empty = as received.",
		"webhooks.client_secret_file": "File holding the app's client secret, when HUBSPOT_CLIENT_SECRET is not set.",
		"webhooks.quiet":              "Events are applied once none arrived for this long (2s) ...",
		"webhooks.max_delay":          "... or at the latest this long (10s) after the first pending one.",
	})
}

func (c Config) webhookProblems() Problems {
	var ps Problems
	add := func(key, fix, format string, args ...any) {
		ps = append(ps, Problem{Key: key, Msg: fmt.Sprintf(format, args...), Fix: fix})
	}
	if c.Schedule.AssociationRefreshEvery < 0 {
		add("schedule.association_refresh_every", "use 1 (every run), N (every Nth run) or 0 (only full resyncs)", "%d is negative", c.Schedule.AssociationRefreshEvery)
	}
	w := c.Webhooks
	if !w.Enabled {
		return ps
	}
	if !strings.HasPrefix(w.Path, "/") {
		add("webhooks.path", "use a path such as /webhooks/hubspot", "%q does not start with /", w.Path)
	}
	if w.PublicURL != "" {
		u, err := url.Parse(w.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("webhooks.public_url", "use the app's target URL, e.g. https://clv.example.com/webhooks/hubspot", "%q is not an http(s) URL", w.PublicURL)
		}
	}
	if w.Quiet <= 0 {
		add("webhooks.quiet", "use a duration such as 2s", "must be > 0")
	}
	if w.MaxDelay < w.Quiet {
		add("webhooks.max_delay", "use a duration at least webhooks.quiet, such as 10s", "%s is shorter than webhooks.quiet", time.Duration(w.MaxDelay))
	}
	return ps
}

// WebhookSecret returns the HubSpot app's client secret from
// HUBSPOT_CLIENT_SECRET, or else from webhooks.client_secret_file. getenv
// is os.Getenv in production. The secret is never part of an error.
func (c Config) WebhookSecret(getenv func(string) string) (string, error) {
	if s := strings.TrimSpace(getenv("HUBSPOT_CLIENT_SECRET")); s != "" {
		return s, nil
	}
	if f := c.Webhooks.ClientSecretFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", fmt.Errorf("webhooks.client_secret_file: %w", err)
		}
		if s := strings.TrimSpace(string(b)); s != "" {
			return s, nil
		}
		return "", fmt.Errorf("webhooks.client_secret_file %s is empty", f)
	}
	return "", fmt.Errorf("webhooks.enabled needs the HubSpot app's client secret: set HUBSPOT_CLIENT_SECRET or webhooks.client_secret_file")
}
