package hubspot

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
)

// Association is one associated record returned by the v4 API.
type Association struct {
	// ToObjectID is the associated record's id.
	ToObjectID string
	// Types are the association types (with labels) linking the two.
	Types []AssociationType
}

// AssociationType is one association type between two records.
type AssociationType struct {
	// Category is HUBSPOT_DEFINED, USER_DEFINED, INTEGRATOR_DEFINED or WORK.
	Category string `json:"category"`
	// TypeID is e.g. 3 for deal → contact.
	TypeID int `json:"typeId"`
	// Label is the user-visible label; "" when HubSpot sends null.
	Label string `json:"label"`
}

// flexID decodes an id sent as a JSON string or number. The spec types
// ids as strings, but v4 association responses have been seen with numbers.
type flexID string

func (f *flexID) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*f = flexID(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("id %s: %w", b, err)
	}
	*f = flexID(n.String())
	return nil
}

type assocBatchResponse struct {
	Status  string `json:"status"`
	Results []struct {
		From struct {
			ID flexID `json:"id"`
		} `json:"from"`
		To []struct {
			ToObjectID       flexID            `json:"toObjectId"`
			AssociationTypes []AssociationType `json:"associationTypes"`
		} `json:"to"`
		Paging *Paging `json:"paging"`
	} `json:"results"`
	NumErrors int          `json:"numErrors"`
	Errors    []batchError `json:"errors"`
}

type assocInput struct {
	ID    string `json:"id"`
	After string `json:"after,omitempty"`
}

// AssociationsService reads and writes associations (v4 semantics; the
// 2026-09 family uses the same shapes).
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/associations
type AssociationsService struct{ c *Client }

// BatchRead returns every association from each of ids (at most 1,000) of
// object type from to object type to, e.g. ("deals", "contacts", dealIDs).
// HubSpot pages each id separately; BatchRead follows every id's paging to
// the end by resending it with its after cursor. Every input id is a key of
// the result; ids with no associations (HubSpot reports those as per-id
// errors in a 207) map to an empty slice.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/associations
func (s *AssociationsService) BatchRead(ctx context.Context, from, to string, ids []string) (map[string][]Association, error) {
	if len(ids) > MaxAssociationsBatch {
		return nil, fmt.Errorf("batch read %s→%s associations: %d ids, at most %d per batch", from, to, len(ids), MaxAssociationsBatch)
	}
	if err := checkBatchIDs(ids); err != nil {
		return nil, fmt.Errorf("batch read %s→%s associations: %w", from, to, err)
	}
	out := make(map[string][]Association, len(ids))
	pending := make([]assocInput, 0, len(ids))
	for _, id := range ids {
		out[id] = []Association{}
		pending = append(pending, assocInput{ID: id})
	}
	seen := map[assocInput]bool{}
	for len(pending) > 0 {
		body := struct {
			Inputs []assocInput `json:"inputs"`
		}{pending}
		var resp assocBatchResponse
		if err := s.c.do(ctx, call{endpoint: "associations.batch_read", method: http.MethodPost,
			path: s.c.paths.associationsBatchRead(from, to), body: body, out: &resp}); err != nil {
			return nil, fmt.Errorf("batch read %s→%s associations for %d ids: %w", from, to, len(pending), err)
		}
		for _, in := range pending {
			seen[in] = true
		}
		pending = pending[:0:0]
		for _, r := range resp.Results {
			id := string(r.From.ID)
			if _, ok := out[id]; !ok {
				continue // not asked for
			}
			for _, t := range r.To {
				out[id] = append(out[id], Association{ToObjectID: string(t.ToObjectID), Types: t.AssociationTypes})
			}
			// An id page without associations ends that id's paging even if
			// it names a cursor: following it could only loop.
			if after := r.Paging.nextAfter(); after != "" && len(r.To) > 0 {
				next := assocInput{ID: id, After: after}
				if seen[next] {
					return nil, fmt.Errorf("batch read %s→%s associations: cursor %q for %s repeated", from, to, after, id)
				}
				pending = append(pending, next)
			}
		}
	}
	return out, nil
}

// CreateDefault associates two records with the default (unlabelled)
// association type for their object types.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/associations
func (s *AssociationsService) CreateDefault(ctx context.Context, fromType, fromID, toType, toID string) error {
	if fromID == "" || toID == "" {
		return fmt.Errorf("associate %s %q with %s %q: empty id", fromType, fromID, toType, toID)
	}
	if err := s.c.do(ctx, call{endpoint: "associations.create_default", method: http.MethodPut,
		path: s.c.paths.associationDefault(fromType, fromID, toType, toID)}); err != nil {
		return fmt.Errorf("associate %s %s with %s %s: %w", fromType, fromID, toType, toID, err)
	}
	return nil
}

// Delete removes every association between two records (all types, v4
// semantics), e.g. ("deals", dealID, "contacts", contactID).
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/associations
func (s *AssociationsService) Delete(ctx context.Context, fromType, fromID, toType, toID string) error {
	if fromID == "" || toID == "" {
		return fmt.Errorf("remove association of %s %q with %s %q: empty id", fromType, fromID, toType, toID)
	}
	if err := s.c.do(ctx, call{endpoint: "associations.delete", method: http.MethodDelete,
		path: s.c.paths.association(fromType, fromID, toType, toID)}); err != nil {
		return fmt.Errorf("remove association of %s %s with %s %s: %w", fromType, fromID, toType, toID, err)
	}
	return nil
}
