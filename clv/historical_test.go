package clv_test

import (
	"math"
	"testing"
	"time"

	"github.com/clvsync/clvsync/clv"
	"github.com/shopspring/decimal"
)

// clvDec parses a decimal literal or fails the test.
func clvDec(tb testing.TB, s string) decimal.Decimal {
	tb.Helper()
	d, err := decimal.NewFromString(s)
	if err != nil {
		tb.Fatalf("decimal %q: %v", s, err)
	}
	return d
}

// clvMonths returns t0 plus n calendar months (the whole part with
// AddDate, the fraction of the following month in time); t0 is the first of
// a month in the tests, so no day is clamped.
func clvMonths(t0 time.Time, n float64) time.Time {
	whole := math.Floor(n)
	a := t0.AddDate(0, int(whole), 0)
	next := t0.AddDate(0, int(whole)+1, 0)
	return a.Add(time.Duration((n - whole) * float64(next.Sub(a))))
}

var clvT0 = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

func TestHistorical(t *testing.T) {
	asOf := clvT0.AddDate(1, 0, 0)
	day := func(n int) time.Time { return clvT0.AddDate(0, 0, n) }
	for _, tt := range []struct {
		name                          string
		orders                        []clv.Order
		margin, cost                  string
		wantOrders, wantRefunds       int
		wantRevenue, wantProfit, want string
		wantClamped                   bool
		wantFirst, wantLast           time.Time
	}{
		{name: "no orders", margin: "0.3", cost: "5", wantRevenue: "0", wantProfit: "0", want: "0"},
		{name: "single order", orders: []clv.Order{{At: day(10), Amount: clvDec(t, "100.00")}}, margin: "0.3", cost: "5",
			wantOrders: 1, wantRevenue: "100", wantProfit: "25", want: "25", wantFirst: day(10), wantLast: day(10)},
		{name: "refund reduces revenue, is not an order; later order ignored",
			orders: []clv.Order{{At: day(20), Amount: clvDec(t, "50")}, {At: day(5), Amount: clvDec(t, "100")},
				{At: day(30), Amount: clvDec(t, "-30")}, {At: day(400), Amount: clvDec(t, "1000")}},
			margin: "0.5", cost: "5", wantOrders: 2, wantRefunds: 1, wantRevenue: "120", wantProfit: "50", want: "50",
			wantFirst: day(5), wantLast: day(20)},
		{name: "negative profit is clamped", orders: []clv.Order{{At: day(1), Amount: clvDec(t, "10")}, {At: day(2), Amount: clvDec(t, "-10")}},
			margin: "1", cost: "5", wantOrders: 1, wantRefunds: 1, wantRevenue: "0", wantProfit: "-5", want: "0", wantClamped: true,
			wantFirst: day(1), wantLast: day(1)},
		{name: "full precision kept", orders: []clv.Order{{At: day(1), Amount: clvDec(t, "10.005")}}, margin: "0.333", cost: "0",
			wantOrders: 1, wantRevenue: "10.005", wantProfit: "3.331665", want: "3.331665", wantFirst: day(1), wantLast: day(1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := clv.Historical(tt.orders, clvDec(t, tt.margin), clvDec(t, tt.cost), asOf)
			if h.Orders != tt.wantOrders || h.Refunds != tt.wantRefunds {
				t.Errorf("orders, refunds = %d, %d; want %d, %d", h.Orders, h.Refunds, tt.wantOrders, tt.wantRefunds)
			}
			if !h.Revenue.Equal(clvDec(t, tt.wantRevenue)) || !h.Profit.Equal(clvDec(t, tt.wantProfit)) {
				t.Errorf("revenue, profit = %s, %s; want %s, %s", h.Revenue, h.Profit, tt.wantRevenue, tt.wantProfit)
			}
			if !h.First.Equal(tt.wantFirst) || !h.Last.Equal(tt.wantLast) {
				t.Errorf("first, last = %s, %s; want %s, %s", h.First, h.Last, tt.wantFirst, tt.wantLast)
			}
			v, clamped := h.HistoricalCLV()
			if !v.Equal(clvDec(t, tt.want)) || clamped != tt.wantClamped {
				t.Errorf("HistoricalCLV = %s, %v; want %s, %v", v, clamped, tt.want, tt.wantClamped)
			}
		})
	}
}

func TestRoundMoney(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"2.345", "2.35"}, {"-2.345", "-2.35"}, {"2.344999", "2.34"}, {"480.0000000000001", "480"}, {"0", "0"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			got := clv.RoundMoney(clvDec(t, tt.in))
			if !got.Equal(clvDec(t, tt.want)) {
				t.Errorf("RoundMoney(%s) = %s, want %s", tt.in, got, tt.want)
			}
			if got.StringFixed(2) != clvDec(t, tt.in).StringFixed(2) {
				t.Errorf("RoundMoney and StringFixed(2) disagree: %s vs %s", got.StringFixed(2), clvDec(t, tt.in).StringFixed(2))
			}
		})
	}
}

func TestUnitsSince(t *testing.T) {
	for _, tt := range []struct {
		name string
		end  time.Time
		unit clv.TimeUnit
		want string
	}{
		{"one month", clvMonths(clvT0, 1), clv.Month, "1"},
		{"two weeks", clvT0.AddDate(0, 0, 14), clv.Week, "2"},
		{"backwards", clvT0.AddDate(0, 0, -3), clv.Day, "-3"},
		{"calendar months clamp to the month's end", time.Date(2020, 2, 29, 0, 0, 0, 0, time.UTC), clv.Month, "1"},
		{"half of February 2020", time.Date(2020, 2, 15, 12, 0, 0, 0, time.UTC), clv.Month, "0.5"},
		{"backwards months", time.Date(2019, 11, 1, 0, 0, 0, 0, time.UTC), clv.Month, "-2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := clvT0
			if tt.name == "calendar months clamp to the month's end" {
				start = time.Date(2020, 1, 31, 0, 0, 0, 0, time.UTC)
			}
			if tt.name == "half of February 2020" {
				start = time.Date(2020, 2, 1, 0, 0, 0, 0, time.UTC)
			}
			if got := clv.UnitsSince(start, tt.end, tt.unit); !got.Equal(clvDec(t, tt.want)) {
				t.Errorf("UnitsSince = %s, want %s", got, tt.want)
			}
		})
	}
}
