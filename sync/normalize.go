package sync

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/shopspring/decimal"

	"github.com/clvsync/clvsync/clv"
	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/state"
	"github.com/clvsync/clvsync/sync/config"
)

// Deal data rules. Bad data from HubSpot never stops a run; each rule below
// is applied when a deal is stored and every deviation is recorded as a
// warning naming the deal:
//
//   - no amount: the deal is kept (it still counts as won) but contributes no
//     revenue and is not an order for the models ("no amount").
//   - amount with a currency sign, spaces or thousands separators ("$1,234.50",
//     "1 234,50 €"): the sign and separators are removed; a comma followed by
//     exactly three digits is a thousands separator, any other last comma or
//     dot is the decimal point ("amount normalised").
//   - an amount that still does not parse: treated as no amount ("amount unreadable").
//   - a negative amount: a refund; it reduces revenue and is not an order
//     ("negative amount (refund)").
//   - no close date: the deal is not an order, since its timing is unknown
//     ("no close date").
//   - a close date in the future: not an order until that date ("close date in the future").
//   - a currency outside deals.currencies (when that list is set): not an
//     order ("currency XYZ not accepted").
//
// DealRules also turn stored deals into orders (Orders).
type DealRules struct {
	amountProp, currencyProp, closeProp string
	attribution                         string
	won                                 func(pipeline, stage string, closedWon bool) bool
	currencies                          map[string]bool
	pipelines                           map[string]bool
	// wonKey lists the won stages, sorted, for computeHash.
	wonKey string
}

// NewDealRules builds the deal rules of cfg. won holds the won stages as
// "pipeline/stage" (those HubSpot marks closed-won, for won_stages auto);
// nil takes the explicit deals.won_stages list. An empty map trusts each
// deal's stored won flag, as the report does.
func NewDealRules(cfg config.Config, won map[string]bool) DealRules {
	d := cfg.Deals
	rules := DealRules{amountProp: d.AmountProperty, currencyProp: d.CurrencyProperty, closeProp: d.CloseDateProperty,
		attribution: cfg.Attribution}
	if len(d.Currencies) > 0 {
		rules.currencies = map[string]bool{}
		for _, c := range d.Currencies {
			rules.currencies[strings.ToUpper(c)] = true
		}
	}
	if len(d.Pipelines) > 0 {
		rules.pipelines = map[string]bool{}
		for _, p := range d.Pipelines {
			rules.pipelines[p] = true
		}
	}
	if won == nil {
		won = map[string]bool{}
		for _, s := range d.WonStages.Stages {
			won[s.Pipeline+"/"+s.Stage] = true
		}
	}
	rules.wonKey = strings.Join(slices.Sorted(maps.Keys(won)), ",")
	rules.won = func(pipeline, stage string, closedWon bool) bool {
		if len(won) == 0 {
			return closedWon
		}
		return won[pipeline+"/"+stage]
	}
	return rules
}

// Orders turns a contact's stored deals into clv orders, applying the
// attribution rule: all (every associated contact gets the whole deal),
// split (shared evenly) or primary (only the primary contact; HubSpot has no
// primary deal-contact label, so the first associated contact by id when no
// primary is known).
func (r DealRules) Orders(contactID string, deals []state.Deal, asOf time.Time) []clv.Order {
	var out []clv.Order
	for _, d := range deals {
		if !r.isOrder(d, asOf) {
			continue
		}
		amount := d.HomeAmount.Decimal
		switch r.attribution {
		case config.AttributionSplit:
			if n := len(d.ContactIDs); n > 1 {
				amount = amount.Div(decimal.NewFromInt(int64(n)))
			}
		case config.AttributionPrimary:
			primary := d.PrimaryContactID
			if primary == "" && len(d.ContactIDs) > 0 {
				primary = d.ContactIDs[0]
			}
			if primary != contactID {
				continue
			}
		}
		out = append(out, clv.Order{At: d.CloseDate, Amount: amount})
	}
	return out
}

// CompanyOrders returns companyID's orders among deals: each won deal
// whose primary company it is (the first associated company when HubSpot
// names no primary), at its full amount. A deal counts once for its company
// however many of the company's contacts it lists, and never for two
// companies.
func (r DealRules) CompanyOrders(companyID string, deals []state.Deal, asOf time.Time) []clv.Order {
	var out []clv.Order
	for _, d := range deals {
		primary := d.PrimaryCompanyID
		if primary == "" && len(d.CompanyIDs) > 0 {
			primary = d.CompanyIDs[0]
		}
		if primary != companyID || !r.isOrder(d, asOf) {
			continue
		}
		out = append(out, clv.Order{At: d.CloseDate, Amount: d.HomeAmount.Decimal})
	}
	return out
}

// dealProperties returns the deal properties a pull requests.
func dealProperties(c config.Config) []string {
	props := []string{c.Deals.AmountProperty, "amount", c.Deals.CurrencyProperty, c.Deals.CloseDateProperty,
		"dealstage", "pipeline", "createdate", "hs_lastmodifieddate", "hs_is_closed_won"}
	return uniqueSorted(props)
}

// contactProperties returns the contact properties a pull requests.
func contactProperties(c config.Config) []string {
	return uniqueSorted([]string{"createdate", "email", "firstname", "lastname", "lastmodifieddate",
		"associatedcompanyid", "hs_merged_object_ids", c.SourceProperty()})
}

func uniqueSorted(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// normalizeDeal turns a HubSpot deal into the stored record.
func (r DealRules) normalizeDeal(o hubspot.Object, now time.Time) state.Deal {
	p := o.Properties
	d := state.Deal{
		ID:         o.ID,
		Currency:   p[r.currencyProp],
		Stage:      p["dealstage"],
		Pipeline:   p["pipeline"],
		CreatedAt:  parseTime(p["createdate"], o.CreatedAt),
		ModifiedAt: parseTime(p["hs_lastmodifieddate"], o.UpdatedAt),
	}
	d.Won = r.won(d.Pipeline, d.Stage, p["hs_is_closed_won"] == "true")
	if raw, ok := p["amount"]; ok && raw != "" {
		if v, _, err := parseAmount(raw); err == nil {
			d.Amount = decimal.NullDecimal{Decimal: v, Valid: true}
		}
	}
	raw := strings.TrimSpace(p[r.amountProp])
	switch v, cleaned, err := parseAmount(raw); {
	case raw == "":
		d.Warnings = append(d.Warnings, "no amount")
	case err != nil:
		d.Warnings = append(d.Warnings, fmt.Sprintf("amount unreadable: %q", raw))
	default:
		d.HomeAmount = decimal.NullDecimal{Decimal: v, Valid: true}
		if cleaned {
			d.Warnings = append(d.Warnings, fmt.Sprintf("amount normalised: %q -> %s", raw, v))
		}
		if v.IsNegative() {
			d.Warnings = append(d.Warnings, "negative amount (refund)")
		}
	}
	if cd := strings.TrimSpace(p[r.closeProp]); cd == "" {
		d.Warnings = append(d.Warnings, "no close date")
	} else if t, ok := parseHubSpotTime(cd); !ok {
		d.Warnings = append(d.Warnings, fmt.Sprintf("close date unreadable: %q", cd))
	} else {
		d.CloseDate = t
		if t.After(now) {
			d.Warnings = append(d.Warnings, "close date in the future")
		}
	}
	if len(r.currencies) > 0 && d.Currency != "" && !r.currencies[strings.ToUpper(d.Currency)] {
		d.Warnings = append(d.Warnings, fmt.Sprintf("currency %s not accepted", d.Currency))
	}
	return d
}

// isOrder reports whether a stored deal counts as a purchase at asOf. Won is
// decided here from the stage, not from the stored flag, so a change of
// won stages applies to every stored deal at once.
func (r DealRules) isOrder(d state.Deal, asOf time.Time) bool {
	if len(r.pipelines) > 0 && !r.pipelines[d.Pipeline] {
		return false
	}
	if !r.won(d.Pipeline, d.Stage, d.Won) || !d.HomeAmount.Valid || d.CloseDate.IsZero() || d.CloseDate.After(asOf) {
		return false
	}
	if len(r.currencies) > 0 && d.Currency != "" && !r.currencies[strings.ToUpper(d.Currency)] {
		return false
	}
	return true
}

// parseAmount reads a HubSpot number, tolerating currency signs, spaces and
// thousands separators. cleaned reports whether anything had to be removed.
func parseAmount(raw string) (v decimal.Decimal, cleaned bool, err error) {
	s := strings.TrimSpace(raw)
	if d, err := decimal.NewFromString(s); err == nil {
		return d, false, nil
	}
	neg := strings.HasPrefix(s, "-") || (strings.HasPrefix(s, "(") && strings.HasSuffix(s, ")"))
	var b strings.Builder
	for _, r := range s {
		switch {
		case unicode.IsDigit(r), r == '.', r == ',':
			b.WriteRune(r)
		}
	}
	s = b.String()
	if s == "" {
		return decimal.Zero, true, fmt.Errorf("no digits in %q", raw)
	}
	lastComma, lastDot := strings.LastIndex(s, ","), strings.LastIndex(s, ".")
	switch {
	case lastComma >= 0 && lastDot >= 0:
		if lastComma > lastDot { // 1.234,56
			s = strings.ReplaceAll(s, ".", "")
			s = strings.Replace(s, ",", ".", 1)
		} else { // 1,234.56
			s = strings.ReplaceAll(s, ",", "")
		}
	case lastComma >= 0:
		if len(s)-lastComma-1 == 3 { // 1,234 or 1,234,567
			s = strings.ReplaceAll(s, ",", "")
		} else if strings.Count(s, ",") == 1 { // 12,5
			s = strings.Replace(s, ",", ".", 1)
		} else {
			return decimal.Zero, true, fmt.Errorf("ambiguous separators in %q", raw)
		}
	case strings.Count(s, ".") > 1: // 1.234.567
		s = strings.ReplaceAll(s, ".", "")
	}
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Zero, true, err
	}
	if neg {
		d = d.Neg()
	}
	return d, true, nil
}

// parseHubSpotTime reads a HubSpot date or datetime value: RFC 3339,
// YYYY-MM-DD, or epoch milliseconds.
func parseHubSpotTime(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	var ms int64
	if _, err := fmt.Sscan(s, &ms); err == nil && ms > 0 {
		return time.UnixMilli(ms).UTC(), true
	}
	return time.Time{}, false
}

func parseTime(s string, fallback time.Time) time.Time {
	if t, ok := parseHubSpotTime(s); ok {
		return t
	}
	return fallback.UTC()
}

// normalizeContact turns a HubSpot contact into the stored record.
func normalizeContact(c config.Config, o hubspot.Object) state.Contact {
	p := o.Properties
	ct := state.Contact{
		ID:         o.ID,
		Email:      p["email"],
		Name:       strings.TrimSpace(p["firstname"] + " " + p["lastname"]),
		CreatedAt:  parseTime(p["createdate"], o.CreatedAt),
		Source:     p[c.SourceProperty()],
		CompanyID:  p["associatedcompanyid"],
		ModifiedAt: parseTime(p["lastmodifieddate"], o.UpdatedAt),
	}
	for _, id := range strings.Split(p["hs_merged_object_ids"], ";") {
		if id = strings.TrimSpace(id); id != "" && id != o.ID {
			ct.MergedIDs = append(ct.MergedIDs, id)
		}
	}
	return ct
}
