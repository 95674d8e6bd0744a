package hubspot

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-resty/resty/v2"
)

// Sentinel errors. Match them with errors.Is; the *APIError (or
// *RateLimitError) carrying the details stays reachable with errors.As.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/error-handling
var (
	// ErrNotFound reports a 404: the object, property or pipeline does not exist.
	ErrNotFound = errors.New("hubspot: not found")
	// ErrUnauthorized reports a 401: HubSpot rejected the token.
	ErrUnauthorized = errors.New("token rejected: check HUBSPOT_TOKEN")
	// ErrMissingScopes reports a 403 with category MISSING_SCOPES: the token
	// lacks a scope the endpoint needs. APIError.RequiredScopes names them.
	ErrMissingScopes = errors.New("hubspot: token is missing required scopes")
	// ErrDailyLimit reports a 429 with policyName DAILY. The client never
	// retries it; the daily quota resets at midnight in the account's time zone.
	ErrDailyLimit = errors.New("hubspot: daily API limit reached")
)

// Rate-limit policy names HubSpot sends in a 429 body's policyName.
const (
	PolicyTenSecondlyRolling = "TEN_SECONDLY_ROLLING"
	PolicySecondly           = "SECONDLY"
	PolicyDaily              = "DAILY"
)

// APIError is a non-2xx answer from HubSpot, decoded from its standard error
// body. Every body field is optional: HubSpot varies them per API.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/error-handling
type APIError struct {
	// StatusCode is the HTTP status, e.g. 400.
	StatusCode int
	// Method and Path identify the request (path only, no query or host).
	Method, Path string
	// Message is HubSpot's human-readable message.
	Message string
	// Category is e.g. VALIDATION_ERROR, OBJECT_NOT_FOUND, MISSING_SCOPES.
	Category string
	// SubCategory refines Category when HubSpot sends one.
	SubCategory string
	// CorrelationID identifies the request for HubSpot support.
	CorrelationID string
	// ErrorType is set on 429 bodies ("RATE_LIMIT") instead of Category.
	ErrorType string
	// Context holds the body's context map (e.g. "ids", "requiredGranularScopes").
	Context map[string][]string
	// Errors holds the structured per-field details, when present.
	Errors []ErrorDetail
	// Links holds documentation links HubSpot attached.
	Links map[string]string
}

// ErrorDetail is one entry of an error body's errors[] array.
type ErrorDetail struct {
	Message     string
	Code        string
	In          string
	SubCategory string
	Context     map[string][]string
}

// RequiredScopes returns the scopes a 403 MISSING_SCOPES error names in
// context.requiredGranularScopes (or context.missingScopes on older bodies).
func (e *APIError) RequiredScopes() []string {
	if s := e.Context["requiredGranularScopes"]; len(s) > 0 {
		return s
	}
	return e.Context["missingScopes"]
}

// Error implements error. It never contains the token.
func (e *APIError) Error() string {
	var b strings.Builder
	switch {
	case e.StatusCode == http.StatusUnauthorized:
		b.WriteString(ErrUnauthorized.Error())
		b.WriteString(" (")
	case e.isMissingScopes():
		b.WriteString("missing scopes")
		if s := e.RequiredScopes(); len(s) > 0 {
			b.WriteString(": ")
			b.WriteString(strings.Join(s, ", "))
		}
		b.WriteString(" (")
	}
	fmt.Fprintf(&b, "hubspot %d", e.StatusCode)
	if cat := e.Category; cat != "" {
		b.WriteString(" " + cat)
	} else if e.ErrorType != "" {
		b.WriteString(" " + e.ErrorType)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.CorrelationID != "" {
		b.WriteString(" (correlation id " + e.CorrelationID + ")")
	}
	if e.StatusCode == http.StatusUnauthorized || e.isMissingScopes() {
		b.WriteString(")")
	}
	return b.String()
}

func (e *APIError) isMissingScopes() bool {
	return e.StatusCode == http.StatusForbidden && e.Category == "MISSING_SCOPES"
}

// Unwrap returns the sentinel matching the status (ErrNotFound,
// ErrUnauthorized, ErrMissingScopes), or nil.
func (e *APIError) Unwrap() error {
	switch {
	case e.StatusCode == http.StatusNotFound:
		return ErrNotFound
	case e.StatusCode == http.StatusUnauthorized:
		return ErrUnauthorized
	case e.isMissingScopes():
		return ErrMissingScopes
	}
	return nil
}

// Is reports whether target is the sentinel matching this error.
func (e *APIError) Is(target error) bool {
	s := e.Unwrap()
	return s != nil && target == s
}

// RateLimitError is a 429. Policy is HubSpot's policyName (DAILY,
// TEN_SECONDLY_ROLLING, SECONDLY, or "" when the body named none) and
// RetryAfter the wait HubSpot or the client chose. errors.Is(err,
// ErrDailyLimit) is true for the DAILY policy.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/usage-details
type RateLimitError struct {
	*APIError
	Policy     string
	RetryAfter time.Duration
}

// Error implements error.
func (e *RateLimitError) Error() string {
	p := e.Policy
	if p == "" {
		p = "unknown policy"
	}
	return fmt.Sprintf("rate limited (%s): %s", p, e.APIError.Error())
}

// Unwrap returns the underlying *APIError.
func (e *RateLimitError) Unwrap() error { return e.APIError }

// Is reports whether target is ErrDailyLimit and the policy is DAILY.
func (e *RateLimitError) Is(target error) bool {
	return target == ErrDailyLimit && e.Policy == PolicyDaily
}

// errorBody is the wire form of HubSpot's error body (including the 429
// fields policyName/errorType). context values are decoded leniently.
type errorBody struct {
	Status        string                     `json:"status"`
	Message       string                     `json:"message"`
	Category      string                     `json:"category"`
	SubCategory   string                     `json:"subCategory"`
	CorrelationID string                     `json:"correlationId"`
	ErrorType     string                     `json:"errorType"`
	PolicyName    string                     `json:"policyName"`
	Context       map[string]json.RawMessage `json:"context"`
	Links         map[string]string          `json:"links"`
	Errors        []struct {
		Message     string                     `json:"message"`
		Code        string                     `json:"code"`
		In          string                     `json:"in"`
		SubCategory string                     `json:"subCategory"`
		Context     map[string]json.RawMessage `json:"context"`
	} `json:"errors"`
}

// decodeContext turns {"k":["a","b"], "n":"x", "m":3} into map[string][]string.
func decodeContext(raw map[string]json.RawMessage, redact func(string) string) map[string][]string {
	if len(raw) == 0 {
		return nil
	}
	out := make(map[string][]string, len(raw))
	for k, v := range raw {
		var list []any
		if err := json.Unmarshal(v, &list); err != nil {
			var one any
			if json.Unmarshal(v, &one) != nil {
				continue
			}
			list = []any{one}
		}
		vals := make([]string, 0, len(list))
		for _, x := range list {
			if s, ok := x.(string); ok {
				vals = append(vals, redact(s))
			} else {
				b, _ := json.Marshal(x)
				vals = append(vals, redact(string(b)))
			}
		}
		out[k] = vals
	}
	return out
}

// checkResponse turns a finished resty call into nil or a typed error:
// transport errors are returned as they are (redacted), and any status >= 400
// becomes *APIError or *RateLimitError. resty returns err == nil for a final
// 4xx/5xx, so the status is what counts here.
func checkResponse(resp *resty.Response, err error, redact func(string) string) error {
	if err != nil {
		return redactError(err, redact)
	}
	if resp == nil || resp.RawResponse == nil {
		return errors.New("hubspot: no response")
	}
	if !resp.IsError() {
		return nil
	}
	apiErr := &APIError{StatusCode: resp.StatusCode()}
	if req := resp.Request; req != nil && req.RawRequest != nil {
		apiErr.Method, apiErr.Path = req.RawRequest.Method, req.RawRequest.URL.Path
	}
	var body errorBody
	if raw := resp.Body(); len(raw) > 0 {
		if json.Unmarshal(raw, &body) != nil {
			// Gateways (Cloudflare 5xx pages) answer with HTML or text.
			body = errorBody{Message: truncate(strings.TrimSpace(string(raw)), 200)}
		}
	}
	if body.Message == "" {
		body.Message = http.StatusText(apiErr.StatusCode)
	}
	apiErr.Message = redact(body.Message)
	apiErr.Category = body.Category
	apiErr.SubCategory = body.SubCategory
	apiErr.CorrelationID = body.CorrelationID
	apiErr.ErrorType = body.ErrorType
	apiErr.Context = decodeContext(body.Context, redact)
	apiErr.Links = body.Links
	for _, d := range body.Errors {
		apiErr.Errors = append(apiErr.Errors, ErrorDetail{
			Message: redact(d.Message), Code: d.Code, In: d.In, SubCategory: d.SubCategory,
			Context: decodeContext(d.Context, redact),
		})
	}
	if apiErr.StatusCode == http.StatusTooManyRequests {
		policy := body.PolicyName
		if policy == "" && strings.Contains(strings.ToLower(body.Message), "secondly limit") &&
			!strings.Contains(strings.ToLower(body.Message), "ten_secondly") {
			// Search 429s name no policy, only "You have reached your secondly limit."
			policy = PolicySecondly
		}
		return &RateLimitError{APIError: apiErr, Policy: policy, RetryAfter: parseRetryAfter(resp.Header().Get("Retry-After"), time.Now())}
	}
	return apiErr
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// redactedError hides the token in an error's text while keeping the chain
// intact for errors.Is/As.
type redactedError struct {
	err error
	msg string
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

func redactError(err error, redact func(string) string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if r := redact(msg); r != msg {
		return &redactedError{err: err, msg: r}
	}
	return err
}
