package hubspot

import (
	"errors"
	"testing"
	"time"

	"github.com/clvsync/clvsync/hubspot/fakehub"
)

// A worked example: the v1 test vector's secret and body from
// hubspot-api.md §11, signed as v3 (HMAC computed independently with
// openssl dgst -sha256 -hmac over the decoded URI).
const (
	exSecret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
	exBody   = `[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM","changeFlag":"NEW","appId":54321}]`
	exURI    = "https://example.com/webhooks/hubspot?from=a%3Ab%20c"
	exTS     = "1564113600000"
	exSig    = "hqbV5wxFyU+scyPL0Z+q+mNBZWQBm6Pr6zwEsz51z2c="
)

func TestVerifyWebhookV3(t *testing.T) {
	at := time.UnixMilli(1564113600000)
	for _, tt := range []struct {
		name          string
		secret        string
		method, uri   string
		body, ts, sig string
		now           time.Time
		want          error
	}{
		{"worked example", exSecret, "POST", exURI, exBody, exTS, exSig, at.Add(time.Minute), nil},
		{"escapes decoded either case", exSecret, "POST", "https%3a%2F%2Fexample.com%2fwebhooks/hubspot?from=a%3ab%20c", exBody, exTS, exSig, at, nil},
		{"undecoded escape stays", exSecret, "POST", "https://example.com/webhooks/hubspot?from=a%3Ab c", exBody, exTS, exSig, at, ErrWebhookSignature},
		{"wrong secret", "x", "POST", exURI, exBody, exTS, exSig, at, ErrWebhookSignature},
		{"body changed", exSecret, "POST", exURI, exBody + " ", exTS, exSig, at, ErrWebhookSignature},
		{"method changed", exSecret, "PUT", exURI, exBody, exTS, exSig, at, ErrWebhookSignature},
		{"timestamp as float", exSecret, "POST", exURI, exBody, exTS + ".0", exSig, at, ErrWebhookTimestamp},
		{"missing signature", exSecret, "POST", exURI, exBody, exTS, "", at, ErrWebhookSignature},
		{"stale", exSecret, "POST", exURI, exBody, exTS, exSig, at.Add(MaxWebhookAge + time.Millisecond), ErrWebhookStale},
		{"just in time", exSecret, "POST", exURI, exBody, exTS, exSig, at.Add(MaxWebhookAge), nil},
		{"future", exSecret, "POST", exURI, exBody, exTS, exSig, at.Add(-MaxWebhookAge - time.Second), ErrWebhookStale},
		{"no secret", "", "POST", exURI, exBody, exTS, exSig, at, ErrWebhookSecret},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyWebhookV3(tt.secret, tt.method, tt.uri, []byte(tt.body), tt.ts, tt.sig, tt.now)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDecodeWebhookEvents(t *testing.T) {
	evs, err := DecodeWebhookEvents([]byte(`[{"eventId":7,"subscriptionType":"contact.merge","objectId":300,"primaryObjectId":100,"mergedObjectIds":[200],"newObjectId":300,"numberOfPropertiesMoved":3,"occurredAt":1}]`))
	if err != nil || len(evs) != 1 {
		t.Fatal(evs, err)
	}
	e := evs[0]
	if e.ObjectType() != "contact" || e.Kind() != WebhookMerge || e.NewObjectID != 300 || len(e.MergedObjectIDs) != 1 || e.MergedObjectIDs[0] != 200 {
		t.Fatalf("%+v", e)
	}
	if _, err := DecodeWebhookEvents([]byte(`{"not":"an array"}`)); err == nil {
		t.Fatal("want error")
	}
}

// TestVerifyWebhookV3_Fakehub checks the verifier against fakehub's signer,
// a separate implementation.
func TestVerifyWebhookV3_Fakehub(t *testing.T) {
	uri := "https://example.com/hooks%2Fhubspot?portal=1&x=%40y"
	ts := "1793577600000"
	sig := fakehub.SignWebhookV3("s3cret", "POST", uri, []byte(exBody), ts)
	if err := VerifyWebhookV3("s3cret", "POST", uri, []byte(exBody), ts, sig, time.UnixMilli(1793577600000)); err != nil {
		t.Fatal(err)
	}
	if fakehub.SignWebhookV3(exSecret, "POST", exURI, []byte(exBody), exTS) != exSig {
		t.Fatal("fakehub signer disagrees with the worked example")
	}
}
