package clv_test

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/clvsync/clvsync/clv"
	"github.com/shopspring/decimal"
)

// Survival of the two cohorts in Fader & Hardie (2007), years 0-7, and the
// parameters they report.
var (
	sbgRegular = []int{1000, 631, 468, 382, 326, 289, 262, 241}
	sbgHighEnd = []int{1000, 869, 743, 653, 593, 551, 517, 491}
)

func TestFitSBGSurvival(t *testing.T) {
	for _, tt := range []struct {
		name        string
		alive       []int
		alpha, beta float64
	}{
		{"regular", sbgRegular, 0.704, 1.182},
		{"high end", sbgHighEnd, 0.668, 3.806},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, err := clv.FitSBGSurvival(tt.alive)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(m.Alpha-tt.alpha) > 5e-4 || math.Abs(m.Beta-tt.beta) > 5e-4 {
				t.Errorf("alpha, beta = %.4f, %.4f; want %.3f, %.3f", m.Alpha, m.Beta, tt.alpha, tt.beta)
			}
			// The fitted curve stays near the data it was fitted to.
			for k, n := range tt.alive {
				if got := 1000 * m.Survival(k); math.Abs(got-float64(n)) > 25 {
					t.Errorf("S(%d) x 1000 = %.1f, observed %d", k, got, n)
				}
			}
		})
	}
	t.Run("errors", func(t *testing.T) {
		for _, tt := range []struct {
			name  string
			alive []int
			fit   bool // wraps ErrSBGFit
		}{
			{"too short", []int{1000}, true},
			{"no churn", []int{100, 100, 100}, true},
			{"all gone after one period", []int{100, 0, 0}, true},
			{"increasing", []int{100, 120}, false},
			{"negative", []int{100, -1}, false},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := clv.FitSBGSurvival(tt.alive)
				if err == nil {
					t.Fatal("want an error")
				}
				if errors.Is(err, clv.ErrSBGFit) != tt.fit {
					t.Errorf("errors.Is(err, ErrSBGFit) = %v, want %v (%v)", !tt.fit, tt.fit, err)
				}
			})
		}
	})
}

func TestFitSBG(t *testing.T) {
	// The regular cohort as individual tenures gives the same fit.
	var ts []clv.Tenure
	for k := 1; k < len(sbgRegular); k++ {
		for i := 0; i < sbgRegular[k-1]-sbgRegular[k]; i++ {
			ts = append(ts, clv.Tenure{Periods: k, Churned: true})
		}
	}
	for i := 0; i < sbgRegular[len(sbgRegular)-1]; i++ {
		ts = append(ts, clv.Tenure{Periods: len(sbgRegular) - 1})
	}
	m, err := clv.FitSBG(ts)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(m.Alpha-0.704) > 5e-4 || math.Abs(m.Beta-1.182) > 5e-4 {
		t.Errorf("alpha, beta = %.4f, %.4f; want 0.704, 1.182", m.Alpha, m.Beta)
	}
	for _, bad := range []clv.Tenure{{Periods: 0, Churned: true}, {Periods: -1}} {
		if _, err := clv.FitSBG([]clv.Tenure{bad}); err == nil {
			t.Errorf("FitSBG(%+v) accepted", bad)
		}
	}
	if _, err := clv.FitSBG(nil); !errors.Is(err, clv.ErrSBGFit) {
		t.Errorf("FitSBG(nil) = %v, want ErrSBGFit", err)
	}
}

func TestSBG_Retention(t *testing.T) {
	m := clv.SBG{Alpha: 0.704, Beta: 1.182}
	for k := 1; k <= 12; k++ {
		want := m.Survival(k) / m.Survival(k-1)
		if got := m.Retention(k); math.Abs(got-want) > 1e-12 {
			t.Errorf("Retention(%d) = %v, want S(t)/S(t-1) = %v", k, got, want)
		}
		if k > 1 && m.Retention(k) <= m.Retention(k-1) {
			t.Errorf("retention must rise with tenure: r%d=%v r%d=%v", k-1, m.Retention(k-1), k, m.Retention(k))
		}
		if pc := m.ChurnProbability(k); math.Abs(pc-(m.Survival(k-1)-m.Survival(k))) > 1e-12 {
			t.Errorf("ChurnProbability(%d) = %v, want S(t-1)-S(t)", k, pc)
		}
	}
	if got := m.Retention(1); math.Abs(got-1.182/(0.704+1.182)) > 1e-15 {
		t.Errorf("Retention(1) = %v, want beta/(alpha+beta)", got)
	}
}

// sbgDERL is Fader & Hardie's closed form (β+n-1)/(α+β+n-1) ₂F₁(1, β+n;
// α+β+n; 1/(1+d)), the series summed directly.
func sbgDERL(a, b float64, n int, d float64) float64 {
	nf := float64(n)
	z := 1 / (1 + d)
	sum, term := 0.0, 1.0
	for k := 0; k < 100000; k++ {
		sum += term
		term *= (b + nf + float64(k)) / (a + b + nf + float64(k)) * z
		if term < 1e-17 {
			break
		}
	}
	return (b + nf - 1) / (a + b + nf - 1) * sum
}

func TestSBG_ExpectedRemaining(t *testing.T) {
	m := clv.SBG{Alpha: 0.704, Beta: 1.182}
	for _, tt := range []struct {
		name              string
		renewals, horizon int
		d                 float64
		want              float64
	}{
		{"DERL new, d=10%", 0, 0, 0.1, sbgDERL(0.704, 1.182, 1, 0.1)},
		{"DERL after 4 renewals, d=10%", 4, 0, 0.1, sbgDERL(0.704, 1.182, 5, 0.1)},
		{"DERL monthly d=1%", 2, 0, 0.01, sbgDERL(0.704, 1.182, 3, 0.01)},
		{"horizon 1", 0, 1, 0.1, 1.182 / (0.704 + 1.182)},
		{"horizon 2", 0, 2, 0.1, m.Retention(1) + m.Retention(1)*m.Retention(2)/1.1},
		{"horizon 3 undiscounted", 1, 3, 0, m.Survival(2)/m.Survival(1) + m.Survival(3)/m.Survival(1) + m.Survival(4)/m.Survival(1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := m.ExpectedRemaining(tt.renewals, tt.horizon, tt.d)
			if err != nil {
				t.Fatal(err)
			}
			if math.Abs(got-tt.want) > 1e-9*math.Max(1, tt.want) {
				t.Errorf("got %.12f, want %.12f", got, tt.want)
			}
		})
	}
	for _, bad := range []struct {
		name              string
		m                 clv.SBG
		renewals, horizon int
		d                 float64
	}{
		{"unlimited undiscounted", m, 0, 0, 0},
		{"negative renewals", m, -1, 1, 0.1},
		{"negative horizon", m, 0, -1, 0.1},
		{"NaN discount", m, 0, 1, math.NaN()},
		{"zero params", clv.SBG{}, 0, 1, 0.1},
	} {
		t.Run(bad.name, func(t *testing.T) {
			if _, err := bad.m.ExpectedRemaining(bad.renewals, bad.horizon, bad.d); err == nil {
				t.Error("want an error")
			}
		})
	}
}

func TestSubscriptionCLV(t *testing.T) {
	m := clv.SBG{Alpha: 0.704, Beta: 1.182}
	t.Run("value x expected remaining", func(t *testing.T) {
		// In the first period (none completed, one payment made) the next
		// payment is the first renewal.
		v, err := clv.SubscriptionCLV(clvDec(t, "100"), m, clv.Tenure{Periods: 0}, clv.SubscriptionConfig{Horizon: 1, Discount: 0.1})
		if err != nil {
			t.Fatal(err)
		}
		want := 100 * 1.182 / (0.704 + 1.182)
		if got := v.CLV.InexactFloat64(); math.Abs(got-want) > 1e-9 {
			t.Errorf("CLV = %v, want %v", got, want)
		}
	})
	t.Run("DERL", func(t *testing.T) {
		v, err := clv.SubscriptionCLV(clvDec(t, "50"), m, clv.Tenure{Periods: 5}, clv.SubscriptionConfig{Discount: 0.1})
		if err != nil {
			t.Fatal(err)
		}
		// 5 periods completed = 6 payments = 5 renewals made: n = 6.
		want := 50 * sbgDERL(0.704, 1.182, 6, 0.1)
		if got := v.CLV.InexactFloat64(); math.Abs(got-want) > 1e-8 {
			t.Errorf("CLV = %v, want %v", got, want)
		}
	})
	t.Run("churned is worth 0", func(t *testing.T) {
		v, err := clv.SubscriptionCLV(clvDec(t, "50"), m, clv.Tenure{Periods: 3, Churned: true}, clv.SubscriptionConfig{Discount: 0.1})
		if err != nil || !v.CLV.IsZero() {
			t.Errorf("got %s, %v; want 0, nil", v.CLV, err)
		}
	})
	t.Run("negative value clamped", func(t *testing.T) {
		v, err := clv.SubscriptionCLV(clvDec(t, "-5"), m, clv.Tenure{Periods: 1}, clv.SubscriptionConfig{Horizon: 12})
		if err != nil || !v.CLV.IsZero() || !v.Flags.Has(clv.FlagClamped) {
			t.Errorf("got %s, %q, %v; want 0, clamped, nil", v.CLV, v.Flags, err)
		}
	})
}

func TestSubscriptionConfig_Validate(t *testing.T) {
	for _, tt := range []struct {
		name  string
		cfg   clv.SubscriptionConfig
		field string
	}{
		{"ok", clv.SubscriptionConfig{Horizon: 36, Discount: 0.01}, ""},
		{"negative horizon", clv.SubscriptionConfig{Horizon: -1}, "subscription.horizon"},
		{"discount 1", clv.SubscriptionConfig{Horizon: 1, Discount: 1}, "subscription.discount"},
		{"unlimited undiscounted", clv.SubscriptionConfig{}, "subscription.discount"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (tt.field == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.field)) {
				t.Errorf("Validate() = %v, want error naming %q", err, tt.field)
			}
		})
	}
}

func TestSubscriptionTenure(t *testing.T) {
	payments := clvMonthly(t, "99", 0, 1, 2, 3, 4, 5)
	week := 7 * 24 * time.Hour
	for _, tt := range []struct {
		name   string
		orders []clv.Order
		asOf   time.Time
		want   clv.Tenure
		ok     bool
	}{
		{"active mid-period", payments, clvMonths(clvT0, 5.5), clv.Tenure{Periods: 5}, true},
		{"within grace", payments, clvMonths(clvT0, 6).Add(5 * 24 * time.Hour), clv.Tenure{Periods: 6}, true},
		{"cancelled", payments, clvMonths(clvT0, 8), clv.Tenure{Periods: 6, Churned: true}, true},
		{"single payment, cancelled", payments[:1], clvMonths(clvT0, 3), clv.Tenure{Periods: 1, Churned: true}, true},
		{"no payment yet", payments, clvT0.Add(-time.Hour), clv.Tenure{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := clv.SubscriptionTenure(tt.orders, clv.Month, week, tt.asOf)
			if got != tt.want || ok != tt.ok {
				t.Errorf("got %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestSubscription_paymentsAtPeriodStart: a subscriber pays at the start of
// each period, so after Periods completed periods they have paid Periods+1
// times and made Periods renewals. Fader & Hardie (2007), "How to project
// customer retention", J. Interactive Marketing 21(1): sBG with the
// "regular" segment's α = 0.668, β = 3.806; S(t) = B(α, β+t)/B(α, β), and
// the next renewal of a subscriber who has paid n periods happens with
// probability S(n)/S(n-1). Before the fix renewals were counted one short
// and value per period divided by completed periods: +44 % after 2
// payments, +20 % after 4, +3.7 % after 24.
func TestSubscription_paymentsAtPeriodStart(t *testing.T) {
	m := clv.SBG{Alpha: 0.668, Beta: 3.806}
	cfg := clv.SubscriptionConfig{Horizon: 12, Discount: 0.01}
	for _, payments := range []int{2, 4, 24} {
		t.Run(strconv.Itoa(payments)+" payments", func(t *testing.T) {
			months := make([]float64, payments)
			for i := range months {
				months[i] = float64(i)
			}
			asOf := clvMonths(clvT0, float64(payments)-0.5) // mid-way through the last paid period
			tn, ok := clv.SubscriptionTenure(clvMonthly(t, "50", months...), clv.Month, 45*24*time.Hour, asOf)
			if !ok || tn.Churned || tn.Periods != payments-1 {
				t.Fatalf("tenure %+v, want %d completed periods, active", tn, payments-1)
			}
			if got := tn.Payments(); got != payments {
				t.Errorf("Payments() = %d, want %d", got, payments)
			}
			perPeriod := clv.SubscriptionValuePerPeriod(clvDec(t, "50").Mul(decimal.NewFromInt(int64(payments))), tn)
			if !perPeriod.Equal(clvDec(t, "50")) {
				t.Errorf("value per period = %s, want 50", perPeriod)
			}
			n := float64(payments)
			var want float64
			for k := 0; k < cfg.Horizon; k++ {
				want += m.Survival(payments+k) / m.Survival(payments-1) / math.Pow(1.01, float64(k))
			}
			v, err := clv.SubscriptionCLV(perPeriod, m, tn, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.ExpectedPeriods.InexactFloat64(); math.Abs(got-want) > 1e-9 {
				t.Errorf("expected future payments %v, want %v", got, want)
			}
			if got, w := m.PAlive(tn), (m.Beta+n-1)/(m.Alpha+m.Beta+n-1); math.Abs(got-w) > 1e-15 {
				t.Errorf("PAlive = %v, want the next renewal's probability S(%d)/S(%d) = %v", got, payments, payments-1, w)
			}
		})
	}
	if got := m.PAlive(clv.Tenure{Periods: 3, Churned: true}); got != 0 {
		t.Errorf("PAlive(churned) = %v, want 0", got)
	}
	if got := clv.SubscriptionValuePerPeriod(clvDec(t, "150"), clv.Tenure{Periods: 3, Churned: true}); !got.Equal(clvDec(t, "50")) {
		t.Errorf("churned after 3 payments of 50: value per period %s, want 50", got)
	}
}
