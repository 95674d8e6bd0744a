package hubspot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Pipeline is a deal (or ticket) pipeline with its stages.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/pipelines
type Pipeline struct {
	ID           string     `json:"id"`
	Label        string     `json:"label"`
	DisplayOrder int        `json:"displayOrder"`
	Archived     bool       `json:"archived"`
	Stages       []Stage    `json:"stages"`
	CreatedAt    time.Time  `json:"createdAt"`
	UpdatedAt    time.Time  `json:"updatedAt"`
	ArchivedAt   *time.Time `json:"archivedAt,omitempty"`
}

// Stage is a pipeline stage. IsClosed and Probability are parsed from the
// string values HubSpot sends in metadata ("true", "0.2"); Metadata keeps
// the raw map.
type Stage struct {
	ID           string
	Label        string
	DisplayOrder int
	Archived     bool
	// IsClosed is metadata.isClosed (deal pipelines).
	IsClosed bool
	// Probability is metadata.probability in [0, 1] (deal pipelines); 0 when absent.
	Probability float64
	// Metadata is the raw metadata map, e.g. ticketState for ticket pipelines.
	Metadata         map[string]string
	WritePermissions string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// UnmarshalJSON decodes a stage and parses its string metadata.
func (st *Stage) UnmarshalJSON(b []byte) error {
	var w struct {
		ID               string            `json:"id"`
		Label            string            `json:"label"`
		DisplayOrder     int               `json:"displayOrder"`
		Archived         bool              `json:"archived"`
		Metadata         map[string]string `json:"metadata"`
		WritePermissions string            `json:"writePermissions"`
		CreatedAt        time.Time         `json:"createdAt"`
		UpdatedAt        time.Time         `json:"updatedAt"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*st = Stage{ID: w.ID, Label: w.Label, DisplayOrder: w.DisplayOrder, Archived: w.Archived,
		Metadata: w.Metadata, WritePermissions: w.WritePermissions, CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt}
	if v, ok := w.Metadata["isClosed"]; ok && v != "" {
		closed, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("stage %s: metadata.isClosed %q: %w", w.ID, v, err)
		}
		st.IsClosed = closed
	}
	if v, ok := w.Metadata["probability"]; ok && v != "" {
		p, err := strconv.ParseFloat(v, 64)
		if err != nil || p < 0 || p > 1 {
			return fmt.Errorf("stage %s: metadata.probability %q is not a number in [0, 1]", w.ID, v)
		}
		st.Probability = p
	}
	return nil
}

// PipelinesService reads pipelines.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/pipelines
type PipelinesService struct{ c *Client }

// List returns the object type's pipelines ("deals" for deal pipelines)
// with their stages.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/crm/pipelines
func (s *PipelinesService) List(ctx context.Context, objectType string) ([]Pipeline, error) {
	var resp struct {
		Results []Pipeline `json:"results"`
	}
	if err := s.c.do(ctx, call{endpoint: "pipelines.list", method: http.MethodGet,
		path: s.c.paths.pipelines(objectType), out: &resp}); err != nil {
		return nil, fmt.Errorf("list %s pipelines: %w", objectType, err)
	}
	return resp.Results, nil
}
