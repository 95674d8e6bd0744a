package hubspot

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Webhook request headers HubSpot sets on v3-signed deliveries.
const (
	// HeaderSignatureV3 carries base64(HMAC-SHA256(client secret, source)).
	HeaderSignatureV3 = "X-HubSpot-Signature-v3"
	// HeaderRequestTimestamp carries the delivery time in epoch milliseconds.
	HeaderRequestTimestamp = "X-HubSpot-Request-Timestamp"
)

// MaxWebhookAge is how old a signed request may be before VerifyWebhookV3
// rejects it, as HubSpot documents (5 minutes). Timestamps more than
// MaxWebhookAge in the future are rejected as well.
const MaxWebhookAge = 5 * time.Minute

// MaxWebhookBatch is the most events HubSpot sends in one delivery.
const MaxWebhookBatch = 100

// Webhook verification errors; match them with errors.Is.
var (
	// ErrWebhookSignature reports a missing or wrong X-HubSpot-Signature-v3.
	ErrWebhookSignature = errors.New("hubspot webhook: signature does not match")
	// ErrWebhookTimestamp reports a missing or malformed X-HubSpot-Request-Timestamp.
	ErrWebhookTimestamp = errors.New("hubspot webhook: bad request timestamp")
	// ErrWebhookStale reports a timestamp outside MaxWebhookAge of now.
	ErrWebhookStale = errors.New("hubspot webhook: request timestamp too old (or in the future)")
	// ErrWebhookSecret reports an empty client secret: nothing can be verified.
	ErrWebhookSecret = errors.New("hubspot webhook: client secret is not set")
)

// VerifyWebhookV3 checks a v3-signed HubSpot request: timestamp is the
// X-HubSpot-Request-Timestamp header as received (epoch ms string),
// signature the X-HubSpot-Signature-v3 header, uri the full request URI as
// HubSpot called it (scheme, host, path and query, e.g.
// "https://example.com/webhooks/hubspot?x=1"), body the raw body bytes. It
// rejects timestamps more than MaxWebhookAge from now (ErrWebhookStale),
// decodes the percent-escapes HubSpot lists, and compares the HMAC in
// constant time (ErrWebhookSignature). The secret never appears in errors.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/webhooks/validating-requests
func VerifyWebhookV3(secret, method, uri string, body []byte, timestamp, signature string, now time.Time) error {
	if secret == "" {
		return ErrWebhookSecret
	}
	ts, err := strconv.ParseInt(strings.TrimSpace(timestamp), 10, 64)
	if err != nil || timestamp == "" {
		return fmt.Errorf("%w: %s %q is not epoch milliseconds", ErrWebhookTimestamp, HeaderRequestTimestamp, timestamp)
	}
	age := now.Sub(time.UnixMilli(ts))
	if age > MaxWebhookAge || age < -MaxWebhookAge {
		return fmt.Errorf("%w: %s is %s away from now, limit %s", ErrWebhookStale, HeaderRequestTimestamp, age.Round(time.Second), MaxWebhookAge)
	}
	got, err := base64.StdEncoding.DecodeString(strings.TrimSpace(signature))
	if err != nil || len(got) == 0 {
		return fmt.Errorf("%w: %s missing or not base64", ErrWebhookSignature, HeaderSignatureV3)
	}
	if !hmac.Equal(got, webhookMAC(secret, method, uri, body, timestamp)) {
		return ErrWebhookSignature
	}
	return nil
}

func webhookMAC(secret, method, uri string, body []byte, timestamp string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(method))
	m.Write([]byte(DecodeWebhookURI(uri)))
	m.Write(body)
	m.Write([]byte(timestamp))
	return m.Sum(nil)
}

// webhookURIEscapes are the escapes HubSpot's docs say to decode before
// signing; every other escape stays as sent.
var webhookURIEscapes = map[string]string{
	"3A": ":", "2F": "/", "3F": "?", "40": "@", "21": "!", "24": "$",
	"27": "'", "28": "(", "29": ")", "2A": "*", "2C": ",", "3B": ";",
}

// DecodeWebhookURI decodes the percent-escapes HubSpot lists for v3
// signatures (%3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B, either case)
// and leaves every other byte as it is.
func DecodeWebhookURI(uri string) string {
	if !strings.Contains(uri, "%") {
		return uri
	}
	var b strings.Builder
	b.Grow(len(uri))
	for i := 0; i < len(uri); i++ {
		if uri[i] == '%' && i+2 < len(uri) {
			if r, ok := webhookURIEscapes[strings.ToUpper(uri[i+1:i+3])]; ok {
				b.WriteString(r)
				i += 2
				continue
			}
		}
		b.WriteByte(uri[i])
	}
	return b.String()
}

// Webhook subscription types (legacy CRM object form, "<object>.<event>").
const (
	WebhookCreation          = "creation"
	WebhookDeletion          = "deletion"
	WebhookRestore           = "restore"
	WebhookPropertyChange    = "propertyChange"
	WebhookAssociationChange = "associationChange"
	WebhookMerge             = "merge"
	WebhookPrivacyDeletion   = "privacyDeletion"
)

// WebhookEvent is one event of a HubSpot webhook delivery (the body is a
// JSON array of these, at most MaxWebhookBatch). Fields a subscription
// type does not use are zero. Ids are HubSpot's int64 record ids.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/webhooks
type WebhookEvent struct {
	// EventID identifies the event; HubSpot does not guarantee uniqueness,
	// so de-duplicate on (EventID, SubscriptionID, OccurredAt, ObjectID).
	EventID        int64 `json:"eventId"`
	SubscriptionID int64 `json:"subscriptionId"`
	PortalID       int64 `json:"portalId"`
	AppID          int64 `json:"appId"`
	// OccurredAt is epoch milliseconds.
	OccurredAt int64 `json:"occurredAt"`
	// SubscriptionType is e.g. "deal.propertyChange" or "contact.merge".
	SubscriptionType string `json:"subscriptionType"`
	// AttemptNumber counts deliveries of this event from 0.
	AttemptNumber int `json:"attemptNumber"`
	// ObjectID is the record the event is about (the new record for a merge).
	ObjectID int64 `json:"objectId"`
	// ObjectTypeID is e.g. "0-3" (generic subscriptions only).
	ObjectTypeID string `json:"objectTypeId,omitempty"`
	// ChangeSource is e.g. "CRM", "API", "INTEGRATION".
	ChangeSource string `json:"changeSource,omitempty"`
	// ChangeFlag is e.g. "NEW", "DELETED", "MERGED", "RESTORED" (legacy).
	ChangeFlag string `json:"changeFlag,omitempty"`
	SourceID   string `json:"sourceId,omitempty"`

	// PropertyName and PropertyValue are set on propertyChange events.
	PropertyName  string `json:"propertyName,omitempty"`
	PropertyValue string `json:"propertyValue,omitempty"`

	// PrimaryObjectID, MergedObjectIDs, NewObjectID and
	// NumberOfPropertiesMoved are set on merge events. NewObjectID is the
	// id of the record the merge created (contacts and companies).
	PrimaryObjectID         int64   `json:"primaryObjectId,omitempty"`
	MergedObjectIDs         []int64 `json:"mergedObjectIds,omitempty"`
	NewObjectID             int64   `json:"newObjectId,omitempty"`
	NumberOfPropertiesMoved int     `json:"numberOfPropertiesMoved,omitempty"`

	// AssociationType (e.g. "DEAL_TO_CONTACT"), FromObjectID, ToObjectID,
	// AssociationRemoved and IsPrimaryAssociation are set on
	// associationChange events.
	AssociationType      string `json:"associationType,omitempty"`
	FromObjectID         int64  `json:"fromObjectId,omitempty"`
	ToObjectID           int64  `json:"toObjectId,omitempty"`
	AssociationRemoved   bool   `json:"associationRemoved,omitempty"`
	IsPrimaryAssociation bool   `json:"isPrimaryAssociation,omitempty"`
}

// ObjectType returns the object part of SubscriptionType, e.g. "deal".
func (e WebhookEvent) ObjectType() string {
	t, _, _ := strings.Cut(e.SubscriptionType, ".")
	return t
}

// Kind returns the event part of SubscriptionType, e.g. "propertyChange".
func (e WebhookEvent) Kind() string {
	_, k, _ := strings.Cut(e.SubscriptionType, ".")
	return k
}

// DecodeWebhookEvents decodes a delivery body (a JSON array of events).
func DecodeWebhookEvents(body []byte) ([]WebhookEvent, error) {
	var evs []WebhookEvent
	if err := json.Unmarshal(body, &evs); err != nil {
		return nil, fmt.Errorf("hubspot webhook: decode events: %w", err)
	}
	return evs, nil
}
