package hubspot

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// APIUsage is one daily usage counter.
type APIUsage struct {
	// Name is e.g. "private-apps-api-calls-daily".
	Name         string    `json:"name"`
	UsageLimit   int64     `json:"usageLimit"`
	CurrentUsage int64     `json:"currentUsage"`
	CollectedAt  time.Time `json:"collectedAt"`
	// ResetsAt is midnight in the account's time zone.
	ResetsAt *time.Time `json:"resetsAt,omitempty"`
	// FetchStatus is e.g. SUCCESS or CACHED.
	FetchStatus string `json:"fetchStatus"`
}

// AccountDetails describes the HubSpot account (portal).
type AccountDetails struct {
	PortalID              int64    `json:"portalId"`
	AccountType           string   `json:"accountType"`
	TimeZone              string   `json:"timeZone"`
	CompanyCurrency       string   `json:"companyCurrency"`
	AdditionalCurrencies  []string `json:"additionalCurrencies"`
	UTCOffset             string   `json:"utcOffset"`
	UTCOffsetMilliseconds int64    `json:"utcOffsetMilliseconds"`
	UIDomain              string   `json:"uiDomain"`
	DataHostingLocation   string   `json:"dataHostingLocation"`
}

// AccountService reads account information.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/settings/account-information-api
type AccountService struct{ c *Client }

// DailyUsage returns the private app's daily API usage.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/settings/account-information-api
func (s *AccountService) DailyUsage(ctx context.Context) ([]APIUsage, error) {
	var resp struct {
		Results []APIUsage `json:"results"`
	}
	if err := s.c.do(ctx, call{endpoint: "account.daily_usage", method: http.MethodGet,
		path: s.c.paths.account("api-usage/daily/private-apps"), out: &resp}); err != nil {
		return nil, fmt.Errorf("get daily API usage: %w", err)
	}
	return resp.Results, nil
}

// Details returns the account's id, time zone and currencies.
//
// HubSpot API docs: https://developers.hubspot.com/docs/api/settings/account-information-api
func (s *AccountService) Details(ctx context.Context) (*AccountDetails, error) {
	var d AccountDetails
	if err := s.c.do(ctx, call{endpoint: "account.details", method: http.MethodGet,
		path: s.c.paths.account("details"), out: &d}); err != nil {
		return nil, fmt.Errorf("get account details: %w", err)
	}
	return &d, nil
}
