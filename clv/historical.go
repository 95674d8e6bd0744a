package clv

import (
	"time"

	"github.com/shopspring/decimal"
)

// HistoricalValue is what one customer has been worth so far, as of a date.
// Revenue and Profit are kept at full precision; round them with RoundMoney
// only when they are written out.
type HistoricalValue struct {
	// Orders counts purchases (orders with an amount >= 0) on or before asOf.
	Orders int
	// Refunds counts orders with a negative amount on or before asOf.
	Refunds int
	// Revenue is the sum of all amounts on or before asOf, refunds included.
	Revenue decimal.Decimal
	// Profit is Revenue x margin - costPerOrder x Orders. It can be negative
	// for one customer (refunds, costly small orders); outputs derived from it
	// are clamped at zero with ClampNonNegative.
	Profit decimal.Decimal
	// First and Last are the dates of the first and last purchase (refunds
	// excluded). Both are zero when Orders is 0.
	First, Last time.Time
}

// Historical returns the customer's revenue and profit so far. Orders dated
// after asOf are ignored, negative amounts are refunds that reduce revenue
// without counting as orders, and margin is the gross margin as a fraction
// (0.3 = 30 %; 1 makes profit equal revenue less order costs). The orders need
// not be sorted.
func Historical(orders []Order, margin, costPerOrder decimal.Decimal, asOf time.Time) HistoricalValue {
	var h HistoricalValue
	for _, o := range orders {
		if o.At.After(asOf) {
			continue
		}
		h.Revenue = h.Revenue.Add(o.Amount)
		if o.Amount.IsNegative() {
			h.Refunds++
			continue
		}
		h.Orders++
		if h.First.IsZero() || o.At.Before(h.First) {
			h.First = o.At
		}
		if o.At.After(h.Last) {
			h.Last = o.At
		}
	}
	h.Profit = h.Revenue.Mul(margin).Sub(costPerOrder.Mul(decimal.NewFromInt(int64(h.Orders))))
	return h
}

// HistoricalCLV returns the customer's profit so far as an output value: never
// negative. clamped reports that a negative profit was raised to zero.
func (h HistoricalValue) HistoricalCLV() (v decimal.Decimal, clamped bool) {
	return ClampNonNegative(h.Profit)
}

// RoundMoney rounds a money value for output: two decimal places, half away
// from zero (2.345 -> 2.35, -2.345 -> -2.35). It is the only rounding clv
// applies to money; see the package doc.
func RoundMoney(d decimal.Decimal) decimal.Decimal {
	return d.Round(2)
}

// UnitsSince returns the time from start to end in units of u as an exact
// decimal. It is negative when end is before start.
//
// Months are calendar months, as people count them: whole months from start
// to the same day of a later month (clamped to the month's last day, so Jan
// 31 -> Feb 28/29 -> Mar 31 are whole months), plus the elapsed fraction of
// the following month in seconds. 2020-01-01 to 2022-12-01 is exactly 35
// months (a 30.4375-day month made it 34.99, and the seed's 80 x 6 = 480
// came out 481.07). Days and weeks are 86,400 and 604,800 seconds, all in
// UTC.
func UnitsSince(start, end time.Time, u TimeUnit) decimal.Decimal {
	if u == Month {
		if end.Before(start) {
			return calendarMonths(end, start).Neg()
		}
		return calendarMonths(start, end)
	}
	d := decimal.NewFromInt(int64(end.Sub(start) / time.Second))
	unitSeconds := int64(86400)
	if u == Week {
		unitSeconds = 7 * 86400
	}
	return d.DivRound(decimal.NewFromInt(unitSeconds), 12)
}

// calendarMonths returns the calendar months from start to end >= start.
func calendarMonths(start, end time.Time) decimal.Decimal {
	s, e := start.UTC(), end.UTC()
	k := (e.Year()-s.Year())*12 + int(e.Month()) - int(s.Month())
	anchor := addMonthsClamped(s, k)
	for anchor.After(e) && k > 0 {
		k--
		anchor = addMonthsClamped(s, k)
	}
	next := addMonthsClamped(s, k+1)
	frac := decimal.NewFromInt(int64(e.Sub(anchor)/time.Second)).
		DivRound(decimal.NewFromInt(int64(next.Sub(anchor)/time.Second)), 12)
	return decimal.NewFromInt(int64(k)).Add(frac)
}

// addMonthsClamped adds k calendar months to t, keeping the day of the month
// unless the target month is shorter (then its last day).
func addMonthsClamped(t time.Time, k int) time.Time {
	y, m, d := t.Date()
	last := time.Date(y, m+time.Month(k)+1, 0, 0, 0, 0, 0, time.UTC).Day()
	return time.Date(y, m+time.Month(k), min(d, last), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
}
