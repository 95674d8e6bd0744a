package fakehub

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// webhookEvent is one event in HubSpot's webhook JSON shape (legacy CRM
// object subscriptions, e.g. "deal.propertyChange").
type webhookEvent struct {
	EventID          int64  `json:"eventId"`
	SubscriptionID   int64  `json:"subscriptionId"`
	PortalID         int64  `json:"portalId"`
	AppID            int64  `json:"appId"`
	OccurredAt       int64  `json:"occurredAt"`
	SubscriptionType string `json:"subscriptionType"`
	AttemptNumber    int    `json:"attemptNumber"`
	ObjectID         int64  `json:"objectId,omitempty"`
	ChangeSource     string `json:"changeSource"`
	ChangeFlag       string `json:"changeFlag,omitempty"`
	PropertyName     string `json:"propertyName,omitempty"`
	PropertyValue    string `json:"propertyValue,omitempty"`

	PrimaryObjectID         int64   `json:"primaryObjectId,omitempty"`
	MergedObjectIDs         []int64 `json:"mergedObjectIds,omitempty"`
	NewObjectID             int64   `json:"newObjectId,omitempty"`
	NumberOfPropertiesMoved int     `json:"numberOfPropertiesMoved,omitempty"`

	AssociationType      string `json:"associationType,omitempty"`
	FromObjectID         int64  `json:"fromObjectId,omitempty"`
	ToObjectID           int64  `json:"toObjectId,omitempty"`
	AssociationRemoved   *bool  `json:"associationRemoved,omitempty"`
	IsPrimaryAssociation *bool  `json:"isPrimaryAssociation,omitempty"`
}

// DefaultWebhookAppID is the app id fakehub's webhook events carry when
// Config.WebhookAppID is zero.
const DefaultWebhookAppID = 1160452

// webhookMaxAttempts is one delivery plus HubSpot's 10 retries.
const webhookMaxAttempts = 11

// WebhookRetrySchedule is the wait before each retry of a failed delivery,
// before Config.WebhookTimeScale applies. HubSpot documents up to 10
// retries spread over 24 hours with jitter, not the exact waits; fakehub
// doubles from one minute (about 17 hours in all) and adds up to 10% jitter.
var WebhookRetrySchedule = []time.Duration{
	time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute,
	32 * time.Minute, 64 * time.Minute, 128 * time.Minute, 256 * time.Minute, 512 * time.Minute,
}

// webhookTimeout is how long HubSpot waits for a 2xx before it counts the
// delivery as failed.
const webhookTimeout = 5 * time.Second

// WebhookSettings is the webhook target of a Hub (Config fields and the
// /_fakehub/webhooks admin endpoint).
type WebhookSettings struct {
	// URL receives the POSTed batches; "" turns webhooks off.
	URL string `json:"url"`
	// Secret is the app's client secret that signs deliveries (v3). It is
	// never returned by the admin API.
	Secret string `json:"secret,omitempty"`
	// TimeScale multiplies the retry waits (e.g. 0.001 turns a minute into
	// 60ms); 0 means 1.
	TimeScale float64 `json:"timeScale"`
}

// WebhookStats counts webhook deliveries.
type WebhookStats struct {
	// Events is the number of events queued since New.
	Events int64 `json:"events"`
	// Delivered counts events acknowledged with a 2xx.
	Delivered int64 `json:"delivered"`
	// Attempts counts POSTs, retries included; Failures those that failed.
	Attempts int64 `json:"attempts"`
	Failures int64 `json:"failures"`
	// Dropped counts events given up on after the last retry.
	Dropped int64 `json:"dropped"`
	// Pending counts events queued or waiting for a retry.
	Pending int64 `json:"pending"`
}

type whBatch struct {
	events  []webhookEvent
	attempt int
}

// webhooks delivers events asynchronously: notify only appends to a queue;
// one dispatcher goroutine cuts batches of up to 100 and hands them to at
// most 10 concurrent senders (HubSpot's default concurrency).
type webhooks struct {
	h      *Hub
	client *http.Client

	mu       sync.Mutex
	settings WebhookSettings
	queue    []webhookEvent
	ready    []*whBatch // retries that are due
	timers   map[*time.Timer]bool
	started  bool
	closed   bool
	nextID   int64
	stats    WebhookStats

	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newWebhooks(h *Hub, s WebhookSettings) *webhooks {
	ctx, cancel := context.WithCancel(context.Background())
	return &webhooks{h: h, settings: s, client: &http.Client{Timeout: webhookTimeout},
		timers: map[*time.Timer]bool{}, wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
}

// subscriptionIDs gives each subscription type a stable id.
func subscriptionID(subType string) int64 {
	var n int64 = 1000
	for _, c := range subType {
		n = n*31 + int64(c)
	}
	if n < 0 {
		n = -n
	}
	return 100000 + n%900000
}

// notify queues an event if webhooks are on. It never blocks on the
// network; h.mu may be held.
func (h *Hub) notify(ev webhookEvent) {
	w := h.wh
	if w == nil || !h.seeded {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.settings.URL == "" || w.closed {
		return
	}
	w.nextID++
	ev.EventID = w.nextID
	ev.SubscriptionID = subscriptionID(ev.SubscriptionType)
	ev.PortalID = int64(h.cfg.PortalID)
	ev.AppID = int64(h.cfg.WebhookAppID)
	ev.OccurredAt = h.cfg.Clock().UnixMilli()
	if ev.ChangeSource == "" {
		ev.ChangeSource = "INTEGRATION"
	}
	w.queue = append(w.queue, ev)
	w.stats.Events++
	w.stats.Pending++
	if !w.started {
		w.started = true
		w.wg.Add(1)
		go w.dispatch()
	}
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (h *Hub) notifyProps(t objType, rec *record, changed map[int]string) {
	if h.wh == nil || len(changed) == 0 {
		return
	}
	s := h.schemas[t]
	names := make([]int, 0, len(changed))
	for i := range changed {
		names = append(names, i)
	}
	// Stable order: by property name.
	for i := 1; i < len(names); i++ {
		for j := i; j > 0 && s.props[names[j]].Name < s.props[names[j-1]].Name; j-- {
			names[j], names[j-1] = names[j-1], names[j]
		}
	}
	for _, i := range names {
		h.notify(webhookEvent{SubscriptionType: typeInfo[t].singular + ".propertyChange", ObjectID: rec.id,
			PropertyName: s.props[i].Name, PropertyValue: changed[i]})
	}
}

func (h *Hub) notifyAssoc(ft objType, from int64, tt objType, to int64, primary, removed bool) {
	if h.wh == nil || h.quiet {
		return
	}
	for _, d := range []struct {
		a, b   objType
		af, bt int64
	}{{ft, tt, from, to}, {tt, ft, to, from}} {
		h.notify(webhookEvent{SubscriptionType: typeInfo[d.a].singular + ".associationChange",
			AssociationType: typeInfo[d.a].upper + "_TO_" + typeInfo[d.b].upper, FromObjectID: d.af, ToObjectID: d.bt,
			AssociationRemoved: &removed, IsPrimaryAssociation: &primary})
	}
}

// SetWebhooks changes the webhook target; events already queued go to the
// new target.
func (h *Hub) SetWebhooks(s WebhookSettings) error {
	if err := s.validate(); err != nil {
		return err
	}
	h.wh.mu.Lock()
	defer h.wh.mu.Unlock()
	h.wh.settings = s
	return nil
}

// Webhooks returns the webhook target with the secret blanked.
func (h *Hub) Webhooks() WebhookSettings {
	h.wh.mu.Lock()
	defer h.wh.mu.Unlock()
	s := h.wh.settings
	s.Secret = ""
	return s
}

// WebhookStats returns the delivery counters.
func (h *Hub) WebhookStats() WebhookStats {
	h.wh.mu.Lock()
	defer h.wh.mu.Unlock()
	return h.wh.stats
}

func (s WebhookSettings) validate() error {
	if s.URL != "" && !strings.HasPrefix(s.URL, "http://") && !strings.HasPrefix(s.URL, "https://") {
		return fmt.Errorf("fakehub: webhook URL %q must start with http:// or https://", s.URL)
	}
	if s.URL != "" && s.Secret == "" {
		return fmt.Errorf("fakehub: webhook URL set without a secret (the app client secret signs deliveries)")
	}
	if s.TimeScale < 0 {
		return fmt.Errorf("fakehub: webhook time scale must be >= 0 (got %g)", s.TimeScale)
	}
	return nil
}

// Close stops webhook delivery: in-flight POSTs are cancelled, pending
// retries dropped. The Hub still serves its API afterwards. Close is
// idempotent.
func (h *Hub) Close() error {
	w := h.wh
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	for t := range w.timers {
		t.Stop()
	}
	clear(w.timers)
	w.mu.Unlock()
	w.cancel()
	w.wg.Wait()
	return nil
}

func (w *webhooks) dispatch() {
	defer w.wg.Done()
	sem := make(chan struct{}, 10)
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-w.wake:
		}
		for {
			w.mu.Lock()
			var b *whBatch
			switch {
			case len(w.ready) > 0:
				b, w.ready = w.ready[0], w.ready[1:]
			case len(w.queue) > 0:
				n := min(len(w.queue), 100)
				b = &whBatch{events: append([]webhookEvent(nil), w.queue[:n]...)}
				w.queue = w.queue[n:]
			}
			w.mu.Unlock()
			if b == nil {
				break
			}
			select {
			case sem <- struct{}{}:
			case <-w.ctx.Done():
				return
			}
			w.wg.Add(1)
			go func() {
				defer w.wg.Done()
				defer func() { <-sem }()
				w.deliver(b)
			}()
		}
	}
}

func (w *webhooks) deliver(b *whBatch) {
	w.mu.Lock()
	s := w.settings
	w.stats.Attempts++
	w.mu.Unlock()
	for i := range b.events {
		b.events[i].AttemptNumber = b.attempt
	}
	err := w.post(s, b.events)
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		w.stats.Delivered += int64(len(b.events))
		w.stats.Pending -= int64(len(b.events))
		return
	}
	w.stats.Failures++
	if b.attempt+1 >= webhookMaxAttempts || w.closed {
		w.stats.Dropped += int64(len(b.events))
		w.stats.Pending -= int64(len(b.events))
		return
	}
	wait := WebhookRetrySchedule[b.attempt]
	wait += time.Duration(float64(wait) * 0.1 * float64(b.events[0].EventID%10) / 10) // deterministic jitter
	if s.TimeScale > 0 {
		wait = time.Duration(float64(wait) * s.TimeScale)
	}
	b.attempt++
	var t *time.Timer
	t = time.AfterFunc(wait, func() {
		w.mu.Lock()
		delete(w.timers, t)
		if w.closed {
			w.mu.Unlock()
			return
		}
		w.ready = append(w.ready, b)
		w.mu.Unlock()
		select {
		case w.wake <- struct{}{}:
		default:
		}
	})
	w.timers[t] = true
}

func (w *webhooks) post(s WebhookSettings, events []webhookEvent) error {
	if s.URL == "" {
		return fmt.Errorf("no webhook URL")
	}
	body, err := json.Marshal(events)
	if err != nil {
		return err
	}
	ts := strconv.FormatInt(w.h.cfg.Clock().UnixMilli(), 10)
	req, err := http.NewRequestWithContext(w.ctx, http.MethodPost, s.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "HubSpot Connect 2.0 (http://dev.hubspot.com/) (fakehub)")
	req.Header.Set("X-HubSpot-Request-Timestamp", ts)
	req.Header.Set("X-HubSpot-Signature-v3", SignWebhookV3(s.Secret, http.MethodPost, s.URL, body, ts))
	req.Header.Set("X-HubSpot-Signature-Version", "v3")
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("webhook target answered %d", resp.StatusCode)
	}
	return nil
}

// SignWebhookV3 returns HubSpot's v3 signature of a request: base64 of
// HMAC-SHA256, keyed with the app's client secret, over method + URI +
// body + timestamp, where URI is the full target URL with the escapes
// %3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B decoded. This is
// fakehub's own implementation, independent of the hubspot package's
// verifier, so each checks the other.
func SignWebhookV3(secret, method, uri string, body []byte, timestamp string) string {
	r := strings.NewReplacer(
		"%3A", ":", "%2F", "/", "%3F", "?", "%40", "@", "%21", "!", "%24", "$", "%27", "'",
		"%28", "(", "%29", ")", "%2A", "*", "%2C", ",", "%3B", ";",
		"%3a", ":", "%2f", "/", "%3f", "?", "%2a", "*", "%2c", ",", "%3b", ";")
	src := method + r.Replace(uri) + string(body) + timestamp
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(src))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
