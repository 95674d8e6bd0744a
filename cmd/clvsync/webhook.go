package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/state"
	hsync "github.com/clvsync/clvsync/sync"
	"github.com/clvsync/clvsync/sync/config"
)

// maxWebhookBody bounds a delivery's body: 100 events are a few tens of KB.
const maxWebhookBody = 1 << 20

// webhooks is serve's real-time path: deliveries are verified, stored in
// the state file before the 2xx (HubSpot retries anything else), and a
// worker applies them in debounced batches: the records they name are
// re-read by id, their customers recomputed with the stored model and the
// changed values written back. The cron schedule keeps running as the
// reconciliation path.
type webhooks struct {
	s      *server
	secret string
	now    func() time.Time
	wake   chan struct{}
	// outputs are the contact properties clvsync writes.
	outputs map[string]bool
}

func newWebhooks(s *server, secret string, now func() time.Time) *webhooks {
	if now == nil {
		now = time.Now
	}
	outputs := map[string]bool{}
	for _, key := range config.OutputKeys() {
		if p := s.cfg.Property(key); p != "" {
			outputs[p] = true
		}
	}
	return &webhooks{s: s, secret: secret, now: now, wake: make(chan struct{}, 1), outputs: outputs}
}

// handle is POST webhooks.path.
func (wh *webhooks) handle(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxWebhookBody+1))
	if err != nil || len(body) > maxWebhookBody {
		http.Error(w, "body unreadable or larger than 1 MiB", http.StatusBadRequest)
		return
	}
	uri := wh.s.cfg.Webhooks.PublicURL
	if uri == "" {
		scheme := "http"
		if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
			scheme = "https"
		}
		uri = scheme + "://" + r.Host + r.URL.RequestURI()
	}
	if err := hubspot.VerifyWebhookV3(wh.secret, r.Method, uri, body, r.Header.Get(hubspot.HeaderRequestTimestamp),
		r.Header.Get(hubspot.HeaderSignatureV3), wh.now()); err != nil {
		wh.s.log.Warn("webhook delivery rejected", "err", err, "uri", uri)
		http.Error(w, "signature not valid", http.StatusUnauthorized)
		return
	}
	evs, err := hubspot.DecodeWebhookEvents(body)
	if err != nil {
		http.Error(w, "body is not a JSON array of HubSpot webhook events", http.StatusBadRequest)
		return
	}
	pending := make([]state.PendingEvent, 0, len(evs))
	for _, e := range evs {
		b, err := json.Marshal(e)
		if err != nil {
			http.Error(w, "event not storable", http.StatusBadRequest)
			return
		}
		// HubSpot does not promise unique event ids: de-duplicate on the
		// event's identity, ordered by when it happened.
		key := fmt.Sprintf("%020d·%d·%d·%d", e.OccurredAt, e.EventID, e.SubscriptionID, e.ObjectID)
		pending = append(pending, state.PendingEvent{Key: key, Body: b})
	}
	added, err := wh.s.d.Store.PutEvents(pending)
	if err != nil {
		wh.s.log.Error("webhook delivery not stored; HubSpot will retry it", "err", err)
		http.Error(w, "not stored, retry", http.StatusServiceUnavailable)
		return
	}
	wh.s.log.Info("webhook delivery stored", "events", len(evs), "new", added)
	w.WriteHeader(http.StatusNoContent)
	wh.poke()
}

func (wh *webhooks) poke() {
	select {
	case wh.wake <- struct{}{}:
	default:
	}
}

// run applies stored events until stop is closed: once no delivery arrived
// for webhooks.quiet, or webhooks.max_delay after the first, it re-reads the
// records they name in one run. Events stored before a restart are applied
// at start.
func (wh *webhooks) run(stop <-chan struct{}) {
	quiet, maxDelay := time.Duration(wh.s.cfg.Webhooks.Quiet), time.Duration(wh.s.cfg.Webhooks.MaxDelay)
	wh.poke()
	for {
		select {
		case <-stop:
			return
		case <-wh.wake:
		}
		deadline := time.NewTimer(maxDelay)
		for settled := false; !settled; {
			q := time.NewTimer(quiet)
			select {
			case <-stop:
				q.Stop()
				deadline.Stop()
				return
			case <-wh.wake:
			case <-q.C:
				settled = true
			case <-deadline.C:
				settled = true
			}
			q.Stop()
		}
		deadline.Stop()
		if err := wh.apply(); err != nil {
			wh.s.log.Warn("webhook events not applied yet; retried after the next delivery or run", "err", err)
			time.AfterFunc(quiet*5, wh.poke)
		}
	}
}

// apply runs once for every stored event and removes the events it applied.
func (wh *webhooks) apply() error {
	pend, err := wh.s.d.Store.PendingEvents(0)
	if err != nil || len(pend) == 0 {
		return err
	}
	deals, contacts := map[string]bool{}, map[string]bool{}
	keys := make([]string, 0, len(pend))
	for _, p := range pend {
		keys = append(keys, p.Key)
		var e hubspot.WebhookEvent
		if json.Unmarshal(p.Body, &e) != nil {
			continue // unreadable: dropped, the schedule reconciles
		}
		// clvsync's own writes come back as contact property changes of
		// its output properties: nothing to apply.
		if e.Kind() == "propertyChange" && wh.outputs[e.PropertyName] {
			continue
		}
		eventRecords(e, deals, contacts)
	}
	if len(deals)+len(contacts) == 0 {
		return wh.s.d.Store.DeleteEvents(keys)
	}
	if wh.s.stopping.Load() {
		return errors.New("shutting down")
	}
	wh.s.gate.Lock() // after any run in progress
	err = wh.s.execute(hsync.RunOptions{Deals: sortedKeys(deals), Contacts: sortedKeys(contacts)})
	wh.s.gate.Unlock()
	if err != nil && hsync.Outcome(err) != state.OutcomePartial {
		return err
	}
	return wh.s.d.Store.DeleteEvents(keys)
}

// eventRecords adds the deals and contacts an event names.
func eventRecords(e hubspot.WebhookEvent, deals, contacts map[string]bool) {
	id := func(n int64) string { return strconv.FormatInt(n, 10) }
	add := func(m map[string]bool, ns ...int64) {
		for _, n := range ns {
			if n > 0 {
				m[id(n)] = true
			}
		}
	}
	switch e.ObjectType() {
	case "deal":
		add(deals, e.ObjectID)
		if e.Kind() == "associationChange" {
			add(contacts, e.ToObjectID)
		}
	case "contact":
		add(contacts, e.ObjectID, e.NewObjectID, e.PrimaryObjectID)
		if e.Kind() == "associationChange" && e.AssociationType == "CONTACT_TO_DEAL" {
			add(deals, e.ToObjectID)
		}
	}
}
