package clv

import (
	"time"

	"github.com/shopspring/decimal"
)

// Order is one purchase: a won deal with its close date and its amount in the
// home currency. Several orders on the same calendar day (UTC) are one purchase
// occasion for the purchase models.
type Order struct {
	At     time.Time
	Amount decimal.Decimal
}

// TimeUnit is the unit in which the purchase models measure time.
type TimeUnit int

// The time units the models accept. A month is 365.25/12 days.
const (
	Day TimeUnit = iota
	Week
	Month
)

// Days returns the length of one unit in days.
func (u TimeUnit) Days() float64 {
	switch u {
	case Week:
		return 7
	case Month:
		return 365.25 / 12
	default:
		return 1
	}
}

// String returns "day", "week" or "month".
func (u TimeUnit) String() string {
	switch u {
	case Week:
		return "week"
	case Month:
		return "month"
	default:
		return "day"
	}
}

// ParseTimeUnit parses "day", "week" or "month".
func ParseTimeUnit(s string) (TimeUnit, bool) {
	switch s {
	case "day", "days", "D":
		return Day, true
	case "week", "weeks", "W":
		return Week, true
	case "month", "months", "M":
		return Month, true
	}
	return Day, false
}
