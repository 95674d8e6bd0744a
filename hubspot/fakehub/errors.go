package fakehub

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// apiError is HubSpot's error body (spec schema Error plus "status").
type apiError struct {
	Status        string              `json:"status"`
	Message       string              `json:"message"`
	CorrelationID string              `json:"correlationId"`
	Context       map[string][]string `json:"context,omitempty"`
	Errors        []errorDetail       `json:"errors,omitempty"`
	Category      string              `json:"category,omitempty"`
	Links         map[string]string   `json:"links,omitempty"`
}

type errorDetail struct {
	Message string              `json:"message"`
	Code    string              `json:"code,omitempty"`
	Context map[string][]string `json:"context,omitempty"`
}

// standardError is one entry of a batch response's errors[].
type standardError struct {
	Status   string              `json:"status"`
	Category string              `json:"category"`
	Message  string              `json:"message"`
	Context  map[string][]string `json:"context"`
}

func (h *Hub) errorResp(status int, category, msg string) response {
	return jsonResp(status, &apiError{Status: "error", Message: msg, CorrelationID: h.correlationID(), Category: category})
}

func (h *Hub) validationError(msg string, ctx map[string][]string) response {
	e := &apiError{Status: "error", Message: msg, CorrelationID: h.correlationID(), Context: ctx, Category: "VALIDATION_ERROR"}
	return jsonResp(http.StatusBadRequest, e)
}

func (h *Hub) notFound(msg string) response {
	return h.errorResp(http.StatusNotFound, "OBJECT_NOT_FOUND", msg)
}

// badObjectType is the recorded answer for an unknown object type (it has
// no category).
func (h *Hub) badObjectType(name string) response {
	return jsonResp(http.StatusBadRequest, &apiError{Status: "error",
		Message: "Unable to infer object type from: " + name, CorrelationID: h.correlationID()})
}

func (h *Hub) missingScope(scope string) response {
	return jsonResp(http.StatusForbidden, &apiError{Status: "error",
		Message:       "One or more of the following scopes are required.",
		CorrelationID: h.correlationID(),
		Context: map[string][]string{
			"requiredGranularScopes": {scope},
			"links":                  {"https://developers.hubspot.com/scopes"},
		},
		Category: "MISSING_SCOPES"})
}

func (h *Hub) serverErrorResp(status int) response {
	msg := "internal error"
	switch status {
	case http.StatusBadGateway:
		msg = "Bad Gateway"
	case http.StatusServiceUnavailable:
		msg = "Service Unavailable"
	}
	return h.errorResp(status, "INTERNAL_ERROR", msg)
}

func (h *Hub) badJSON(err error) response {
	return h.validationError(fmt.Sprintf("Invalid input JSON on line 1, column 1: %s", strings.TrimPrefix(err.Error(), "json: ")), nil)
}

// propertyProblem is one entry of the JSON array HubSpot embeds in the
// message of "Property values were not valid".
type propertyProblem struct {
	IsValid bool   `json:"isValid"`
	Message string `json:"message"`
	Error   string `json:"error"`
	Name    string `json:"name"`
}

// invalidProperties renders the recorded "Property values were not valid"
// answer: the problems as a JSON array inside message, and as errors[].
func (h *Hub) invalidProperties(problems []propertyProblem) response {
	arr, _ := json.Marshal(problems)
	e := &apiError{Status: "error", Message: "Property values were not valid: " + string(arr),
		CorrelationID: h.correlationID(), Category: "VALIDATION_ERROR"}
	for _, p := range problems {
		e.Errors = append(e.Errors, errorDetail{Message: p.Message, Code: p.Error,
			Context: map[string][]string{"propertyName": {p.Name}}})
	}
	return jsonResp(http.StatusBadRequest, e)
}

// decode unmarshals a request body into v, answering HubSpot-style on error.
func (h *Hub) decode(rc *reqCtx, v any) (response, bool) {
	if len(strings.TrimSpace(string(rc.body))) == 0 {
		return h.validationError("Invalid input JSON: No content to map due to end-of-input", nil), false
	}
	if err := json.Unmarshal(rc.body, v); err != nil {
		return h.badJSON(err), false
	}
	return response{}, true
}
