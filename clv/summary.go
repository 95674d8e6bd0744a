package clv

import (
	"math"
	"sort"
	"time"

	"github.com/shopspring/decimal"
)

// Summary is one customer's purchase history condensed to the sufficient
// statistics of the purchase models, in model time units.
//
// The first purchase occasion starts the customer's clock and is not counted.
// X is the number of repeat occasions, Tx the time of the last occasion since
// the first (0 when X is 0), T the customer's age at the end of the
// observation period, and MeanSpend the mean value of the repeat occasions
// (0 when X is 0).
type Summary struct {
	ID        string
	X         float64
	Tx        float64
	T         float64
	MeanSpend float64
	// LogITT is the sum over repeat purchases of the log of the time since
	// the previous purchase, in the same unit (0 without repeat purchases).
	// Only the MBG/CNBD-k likelihood reads it, to choose its regularity k.
	LogITT float64
}

// Holdout is what a customer did in a holdout period: the number of purchase
// occasions and the money spent.
type Holdout struct {
	Purchases float64
	Spend     float64
}

// occasion is one UTC calendar day with at least one order.
type occasion struct {
	day    int64 // days since the Unix epoch, UTC
	amount decimal.Decimal
}

// dayNumber returns the UTC calendar day of t as days since the Unix epoch.
func dayNumber(t time.Time) int64 {
	u := t.UTC()
	y, m, d := u.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// occasions groups orders into purchase occasions by UTC calendar day, keeping
// only days on or before lastDay. The result is sorted by day.
func occasions(orders []Order, lastDay int64) []occasion {
	byDay := make(map[int64]decimal.Decimal, len(orders))
	for _, o := range orders {
		d := dayNumber(o.At)
		if d > lastDay {
			continue
		}
		if v, ok := byDay[d]; ok {
			byDay[d] = v.Add(o.Amount)
		} else {
			byDay[d] = o.Amount
		}
	}
	out := make([]occasion, 0, len(byDay))
	for d, v := range byDay {
		out = append(out, occasion{day: d, amount: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].day < out[j].day })
	return out
}

// UnitsBetween returns the number of whole UTC calendar days from the day of
// from to the day of to, expressed in unit.
func UnitsBetween(from, to time.Time, unit TimeUnit) float64 {
	return float64(dayNumber(to)-dayNumber(from)) / unit.Days()
}

// Summarize condenses one customer's orders into a Summary as of asOf.
//
// Orders are grouped into purchase occasions by UTC calendar day and their
// amounts summed. All times are whole days divided by unit.Days(). The
// observation period includes the whole calendar day of asOf: an order on
// the asOf day counts, and T is the number of days from the first occasion's
// day to the asOf day. This is the lifetimes convention
// (calibration_and_holdout_data with an inclusive calibration_period_end) and
// reproduces its CDNOW summary exactly. Orders after the asOf day are ignored.
//
// The second result is false when the customer has no order on or before
// the asOf day.
func Summarize(id string, orders []Order, asOf time.Time, unit TimeUnit) (Summary, bool) {
	end := dayNumber(asOf)
	occ := occasions(orders, end)
	if len(occ) == 0 {
		return Summary{ID: id}, false
	}
	return summarizeOccasions(id, occ, end, unit), true
}

func summarizeOccasions(id string, occ []occasion, end int64, unit TimeUnit) Summary {
	days := unit.Days()
	first := occ[0].day
	s := Summary{ID: id, T: float64(end-first) / days}
	if len(occ) == 1 {
		return s
	}
	total := decimal.Zero
	for _, o := range occ[1:] {
		total = total.Add(o.amount)
	}
	n := len(occ) - 1
	s.X = float64(n)
	for i := 1; i < len(occ); i++ {
		s.LogITT += math.Log(float64(occ[i].day-occ[i-1].day) / days)
	}
	s.Tx = float64(occ[n].day-first) / days
	s.MeanSpend = total.Div(decimal.NewFromInt(int64(n))).InexactFloat64()
	return s
}

// SplitHoldout summarises a customer's orders for a backtest: the calibration
// Summary as of calibrationEnd (same conventions as Summarize) and what the
// customer did after the calibrationEnd day up to and including the
// holdoutEnd day. Occasions are UTC calendar days in both periods.
//
// The last result is false when the customer has no order on or before the
// calibrationEnd day (such a customer is not part of the calibration cohort).
func SplitHoldout(id string, orders []Order, calibrationEnd, holdoutEnd time.Time, unit TimeUnit) (Summary, Holdout, bool) {
	calEnd := dayNumber(calibrationEnd)
	occ := occasions(orders, dayNumber(holdoutEnd))
	k := sort.Search(len(occ), func(i int) bool { return occ[i].day > calEnd })
	if k == 0 {
		return Summary{ID: id}, Holdout{}, false
	}
	s := summarizeOccasions(id, occ[:k], calEnd, unit)
	var h Holdout
	spend := decimal.Zero
	for _, o := range occ[k:] {
		h.Purchases++
		spend = spend.Add(o.amount)
	}
	h.Spend = spend.InexactFloat64()
	return s, h, true
}
