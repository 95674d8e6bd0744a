package clv_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/clvsync/clvsync/clv"
	"github.com/shopspring/decimal"
)

func TestByPurchases(t *testing.T) {
	// The worked example: 80 profit per order x 6 purchases over 3 years.
	if got := clv.ByPurchases(clvDec(t, "80"), clvDec(t, "6")); !got.Equal(clvDec(t, "480")) {
		t.Errorf("ByPurchases(80, 6) = %s, want 480", got)
	}
}

func TestByLifespan(t *testing.T) {
	// The worked example: 50 a month x 36 months.
	if got := clv.ByLifespan(clvDec(t, "50"), clvDec(t, "36")); !got.Equal(clvDec(t, "1800")) {
		t.Errorf("ByLifespan(50, 36) = %s, want 1800", got)
	}
}

// clvMonthly returns one order of amount at each of the given months after clvT0.
func clvMonthly(tb testing.TB, amount string, months ...float64) []clv.Order {
	tb.Helper()
	var out []clv.Order
	for _, m := range months {
		out = append(out, clv.Order{At: clvMonths(clvT0, m), Amount: clvDec(tb, amount)})
	}
	return out
}

// TestNewSimpleBase_dateOnly: exports carry dates only, one order on the
// same day of the month. With months of 30.4375 days, 35 calendar months
// came to 34.98 and the seed's 80 x 6 = 480 to 481.07.
func TestNewSimpleBase_dateOnly(t *testing.T) {
	cfg := clv.DefaultSimpleConfig()
	date := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	var orders []clv.Order
	for k := 0; k < 6; k++ {
		orders = append(orders, clv.Order{At: date(2020, time.January+time.Month(7*k), 1), Amount: clvDec(t, "100")})
	}
	asOf := date(2022, time.December, 1) // the sixth order's day: 35 months after the first
	h := clv.Historical(orders, clvDec(t, "0.9"), clvDec(t, "10"), asOf)
	b, err := clv.NewSimpleBase([]clv.HistoricalValue{h}, cfg, asOf)
	if err != nil {
		t.Fatal(err)
	}
	if !b.CustomerPeriods.Equal(clvDec(t, "36")) || !b.ByPurchases.Equal(clvDec(t, "480")) {
		t.Errorf("periods %s, ByPurchases %s; want 36 and exactly 480", b.CustomerPeriods, b.ByPurchases)
	}
	// 50 a month for 36 months, paid on the 31st (short months clamp to
	// their last day), then gone.
	orders = nil
	for k := 0; k < 36; k++ {
		first := date(2019, time.January+time.Month(k), 1)
		orders = append(orders, clv.Order{At: first.AddDate(0, 1, -1), Amount: clvDec(t, "50")})
	}
	asOf = date(2023, time.June, 30)
	h = clv.Historical(orders, decimal.NewFromInt(1), decimal.Zero, asOf)
	if b, err = clv.NewSimpleBase([]clv.HistoricalValue{h}, cfg, asOf); err != nil {
		t.Fatal(err)
	}
	if !b.Lifespan.Equal(clvDec(t, "36")) || !b.ByLifespan.Equal(clvDec(t, "1800")) {
		t.Errorf("lifespan %s, ByLifespan %s; want 36 and exactly 1800", b.Lifespan, b.ByLifespan)
	}
}

func TestNewSimpleBase(t *testing.T) {
	cfg := clv.DefaultSimpleConfig()
	t.Run("80 x 6 = 480 over 36 months", func(t *testing.T) {
		// 100 revenue per order at 90 % margin less 10 per order = 80 profit
		// per order; 6 orders over 36 months, nobody churned.
		asOf := clvMonths(clvT0, 35)
		h := clv.Historical(clvMonthly(t, "100", 0, 7, 14, 21, 28, 35), clvDec(t, "0.9"), clvDec(t, "10"), asOf)
		b, err := clv.NewSimpleBase([]clv.HistoricalValue{h}, cfg, asOf)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name      string
			got, want decimal.Decimal
		}{
			{"ProfitPerOrder", b.ProfitPerOrder, clvDec(t, "80")},
			{"CustomerPeriods", b.CustomerPeriods, clvDec(t, "36")},
			{"ActivePeriods", b.ActivePeriods, clvDec(t, "36")},
			{"Purchases", b.Purchases, clvDec(t, "6")},
			{"ByPurchases", clv.RoundMoney(b.ByPurchases), clvDec(t, "480")},
			{"Lifespan (capped)", b.Lifespan, clvDec(t, "120")},
		} {
			if !c.got.Equal(c.want) {
				t.Errorf("%s = %s, want %s", c.name, c.got, c.want)
			}
		}
		if !b.Flags.Has(clv.FlagLifespanCapped) {
			t.Errorf("flags %q: want lifespan-capped", b.Flags)
		}
	})
	t.Run("50 x 36 = 1800 from observed churn", func(t *testing.T) {
		// One customer bought 50 a month for 36 months and left: lifespan 36,
		// value 50 a month.
		months := make([]float64, 36)
		for i := range months {
			months[i] = float64(i)
		}
		asOf := clvMonths(clvT0, 48)
		h := clv.Historical(clvMonthly(t, "50", months...), decimal.NewFromInt(1), decimal.Zero, asOf)
		b, err := clv.NewSimpleBase([]clv.HistoricalValue{h}, cfg, asOf)
		if err != nil {
			t.Fatal(err)
		}
		if b.Churned != 1 || !b.Lifespan.Equal(clvDec(t, "36")) || !b.ValuePerPeriod.Equal(clvDec(t, "50")) ||
			!clv.RoundMoney(b.ByLifespan).Equal(clvDec(t, "1800")) {
			t.Errorf("churned %d lifespan %s value/period %s ByLifespan %s; want 1, 36, 50, 1800", b.Churned, b.Lifespan, b.ValuePerPeriod, b.ByLifespan)
		}
		// Expected active months in 36 with churn 1/36 a month: (1-(35/36)^36)*36.
		want := (1 - math.Pow(35.0/36, 36)) * 36
		if got := b.ActivePeriods.InexactFloat64(); math.Abs(got-want) > 1e-9 {
			t.Errorf("ActivePeriods = %v, want %v", got, want)
		}
	})
	t.Run("mixed base", func(t *testing.T) {
		asOf := clvMonths(clvT0, 24)
		hs := []clv.HistoricalValue{
			// Active: 4 orders of 100 over months 0..23 (24 periods at risk).
			clv.Historical(clvMonthly(t, "100", 0, 6, 12, 18), decimal.NewFromInt(1), decimal.Zero, asOf),
			// Churned one-off buyer: 1 period at risk.
			clv.Historical(clvMonthly(t, "40", 2), decimal.NewFromInt(1), decimal.Zero, asOf),
			// A contact with only a refund: no buyer, but the refund counts.
			clv.Historical([]clv.Order{{At: clvMonths(clvT0, 3), Amount: clvDec(t, "-15")}}, decimal.NewFromInt(1), decimal.Zero, asOf),
		}
		b, err := clv.NewSimpleBase(hs, cfg, asOf)
		if err != nil {
			t.Fatal(err)
		}
		if b.Customers != 3 || b.Buyers != 2 || b.Churned != 1 || b.Orders != 5 {
			t.Errorf("counts = %d/%d/%d/%d, want 3/2/1/5", b.Customers, b.Buyers, b.Churned, b.Orders)
		}
		for _, c := range []struct {
			name      string
			got, want decimal.Decimal
		}{
			{"Profit", b.Profit, clvDec(t, "425")},
			{"CustomerPeriods", b.CustomerPeriods, clvDec(t, "26")},
			{"ProfitPerOrder", b.ProfitPerOrder, clvDec(t, "85")},
			{"Lifespan", b.Lifespan, clvDec(t, "26")},
			{"ByLifespan", clv.RoundMoney(b.ByLifespan), clvDec(t, "425")},
		} {
			if !c.got.Equal(c.want) {
				t.Errorf("%s = %s, want %s", c.name, c.got, c.want)
			}
		}
	})
	t.Run("empty base", func(t *testing.T) {
		b, err := clv.NewSimpleBase(nil, cfg, clvT0)
		if err != nil {
			t.Fatal(err)
		}
		if !b.ByPurchases.IsZero() || !b.ByLifespan.IsZero() || len(b.Flags) == 0 {
			t.Errorf("empty base = %s, %s, flags %q; want zeros and a flag", b.ByPurchases, b.ByLifespan, b.Flags)
		}
	})
	t.Run("loss-making base is clamped", func(t *testing.T) {
		asOf := clvMonths(clvT0, 12)
		h := clv.Historical(clvMonthly(t, "10", 0, 6, 12), decimal.NewFromInt(1), clvDec(t, "20"), asOf)
		b, err := clv.NewSimpleBase([]clv.HistoricalValue{h}, cfg, asOf)
		if err != nil {
			t.Fatal(err)
		}
		if !b.ByPurchases.IsZero() || !b.ByLifespan.IsZero() || !b.Flags.Has(clv.FlagClamped) {
			t.Errorf("got %s, %s, flags %q; want 0, 0 and clamped", b.ByPurchases, b.ByLifespan, b.Flags)
		}
	})
}

func TestSimpleConfig_Validate(t *testing.T) {
	for _, tt := range []struct {
		name  string
		edit  func(*clv.SimpleConfig)
		field string
	}{
		{"default", func(*clv.SimpleConfig) {}, ""},
		{"period", func(c *clv.SimpleConfig) { c.Period = 0 }, "simple.period"},
		{"inactive", func(c *clv.SimpleConfig) { c.InactiveAfter = -1 }, "simple.inactive_after"},
		{"max lifespan", func(c *clv.SimpleConfig) { c.MaxLifespan = 0 }, "simple.max_lifespan"},
		{"min orders", func(c *clv.SimpleConfig) { c.MinOrders = 0 }, "simple.min_orders"},
		{"min span", func(c *clv.SimpleConfig) { c.MinSpan = -1 }, "simple.min_span"},
		{"unit", func(c *clv.SimpleConfig) { c.Unit = 9 }, "simple.unit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := clv.DefaultSimpleConfig()
			tt.edit(&c)
			err := c.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.field)
			}
			if _, err := clv.NewSimpleBase(nil, c, clvT0); err == nil {
				t.Error("NewSimpleBase accepted an invalid config")
			}
		})
	}
}

func TestSimpleBase_Customer(t *testing.T) {
	cfg := clv.DefaultSimpleConfig()
	asOf := clvMonths(clvT0, 35)
	one := decimal.NewFromInt(1)
	regular := clv.Historical(clvMonthly(t, "80", 0, 7, 14, 21, 28, 35), one, decimal.Zero, asOf)
	newbie := clv.Historical(clvMonthly(t, "200", 34), one, decimal.Zero, asOf)
	gone := clv.Historical(clvMonthly(t, "30", 0, 1, 2), one, decimal.Zero, asOf)
	refunded := clv.Historical(append(clvMonthly(t, "10", 30, 31, 32), clv.Order{At: clvMonths(clvT0, 33), Amount: clvDec(t, "-100")}), one, decimal.Zero, asOf)
	b, err := clv.NewSimpleBase([]clv.HistoricalValue{regular, newbie, gone}, cfg, asOf)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("own rates", func(t *testing.T) {
		v := b.Customer(regular)
		// profit 480 over 36 periods at risk: 480 x ActivePeriods / 36.
		want := clvDec(t, "480").Mul(b.ActivePeriods).DivRound(clvDec(t, "36"), 16)
		if !v.OwnRates || v.Churned || !clv.RoundMoney(v.ByPurchases).Equal(clv.RoundMoney(want)) {
			t.Errorf("got own=%v churned=%v ByPurchases=%s; want own, active, %s", v.OwnRates, v.Churned, v.ByPurchases, want)
		}
		if !v.ProfitPerOrder.Equal(clvDec(t, "80")) {
			t.Errorf("ProfitPerOrder = %s, want 80", v.ProfitPerOrder)
		}
		wantL := clvDec(t, "480").Mul(v.Lifespan).DivRound(clvDec(t, "36"), 16)
		if !clv.RoundMoney(v.ByLifespan).Equal(clv.RoundMoney(wantL)) {
			t.Errorf("ByLifespan = %s, want %s", v.ByLifespan, wantL)
		}
	})
	t.Run("short history uses base averages", func(t *testing.T) {
		v := b.Customer(newbie)
		if v.OwnRates || !v.Flags.Has(clv.FlagShortHistory) {
			t.Fatalf("own=%v flags=%q; want base rates and short-history", v.OwnRates, v.Flags)
		}
		if want := b.ProfitPerOrder.Mul(b.Purchases); !v.ByPurchases.Equal(want) {
			t.Errorf("ByPurchases = %s, want base %s", v.ByPurchases, want)
		}
	})
	t.Run("churned is worth its history", func(t *testing.T) {
		v := b.Customer(gone)
		if !v.Churned || !v.ByPurchases.Equal(clvDec(t, "90")) || !v.ByLifespan.Equal(clvDec(t, "90")) {
			t.Errorf("got churned=%v %s %s; want true 90 90", v.Churned, v.ByPurchases, v.ByLifespan)
		}
	})
	t.Run("refunds making profit negative are clamped", func(t *testing.T) {
		v := b.Customer(refunded)
		if v.ByPurchases.IsNegative() || v.ByLifespan.IsNegative() || !v.Flags.Has(clv.FlagClamped) {
			t.Errorf("got %s %s flags %q; want >= 0 and clamped", v.ByPurchases, v.ByLifespan, v.Flags)
		}
	})
	t.Run("no orders", func(t *testing.T) {
		v := b.Customer(clv.HistoricalValue{})
		if !v.ByPurchases.IsZero() || !v.ByLifespan.IsZero() {
			t.Errorf("got %s %s, want 0 0", v.ByPurchases, v.ByLifespan)
		}
	})
}

func TestFallbackToSimple(t *testing.T) {
	fs := clv.Flags{clv.FallbackToSimple("only 12 repeat buyers, need 50"), {Kind: clv.FlagClamped}}
	if got, want := fs.String(), "fallback: simple formulas (only 12 repeat buyers, need 50); clamped"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if !fs.Has(clv.FlagFallback) || fs.Has(clv.FlagNonFinite) {
		t.Errorf("Has: wrong answer for %q", fs)
	}
}

func TestClampNonNegative(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		clamped  bool
	}{{"-0.01", "0", true}, {"0", "0", false}, {"5.5", "5.5", false}} {
		t.Run(tt.in, func(t *testing.T) {
			got, c := clv.ClampNonNegative(clvDec(t, tt.in))
			if !got.Equal(clvDec(t, tt.want)) || c != tt.clamped {
				t.Errorf("got %s, %v; want %s, %v", got, c, tt.want, tt.clamped)
			}
		})
	}
}
