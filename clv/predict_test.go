package clv

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestFitted_Predict_CDNOW(t *testing.T) {
	byID, _ := cdnowSummaryByID(t)
	f := &Fitted{Purchase: cdnowBG, Spend: cdnowGG}
	// Section 10 of the model notes (lifetimes, 4.345 weeks per month).
	tests := []struct {
		id                       string
		e52, alive, spend, clv12 float64
	}{
		{"1", 1.55858, 0.726609, 24.6586, 36.2785},
		{"3", 0.251666, 1, 35.1710, 8.34409},
		{"6", 4.19912, 0.641801, 71.4629, 283.524},
		{"157", 25.0614, 0.969134, 26.3929, 625.350},
		{"1516", 25.7595, 0.968920, 39.8903, 972.126},
		{"1901", 5.58e-10, 2.49e-11, 294.212, 1.55e-7},
	}
	for _, tt := range tests {
		t.Run("customer "+tt.id, func(t *testing.T) {
			s := byID[tt.id]
			p := f.Predict(s, 12, 0.01, 4.345)
			sig := 4
			if tt.id == "1901" {
				sig = 3 // the reference gives 3 digits
			}
			checkSig(t, "E[Y(52)]", cdnowBG.ConditionalExpected(52, s), tt.e52, sig)
			checkSig(t, "P(alive)", p.PAlive, tt.alive, sig)
			checkSig(t, "E[M]", p.ExpectedSpend, tt.spend, sig)
			checkSig(t, "CLV", p.CLV, tt.clv12, sig)
			checkSig(t, "expected purchases 12 months", p.ExpectedPurchases, cdnowBG.ConditionalExpected(12*4.345, s), 12)
		})
	}
	t.Run("daily freq trap", func(t *testing.T) {
		// lifetimes' default freq='D' reads 30 weeks as a month: 140.10.
		checkSig(t, "CLV", f.Predict(byID["1"], 12, 0.01, 30).CLV, 140.10, 4)
	})
}

func TestFitted_Predict_NeverBad(t *testing.T) {
	f := &Fitted{Purchase: cdnowBG, Spend: cdnowGG}
	for _, s := range []Summary{
		{}, {X: 1e6, Tx: 1, T: 2, MeanSpend: 1e12}, {X: 3, Tx: 3, T: 3, MeanSpend: 0},
		{X: 21, Tx: 4.71, T: 1e6, MeanSpend: 300},
	} {
		for _, h := range []int{-1, 0, 1, 120} {
			for _, d := range []float64{-2, 0, 0.01, math.NaN()} {
				for _, u := range []float64{-1, 0, 4.345, math.Inf(1)} {
					p := f.Predict(s, h, d, u)
					for _, v := range []float64{p.ExpectedPurchases, p.PAlive, p.ExpectedSpend, p.CLV} {
						if !isFinite(v) || v < 0 {
							t.Fatalf("Predict(%+v, %d, %v, %v) = %+v", s, h, d, u, p)
						}
					}
				}
			}
		}
	}
}

func TestDecimalCLV(t *testing.T) {
	for _, tt := range []struct {
		in   float64
		want string
	}{
		{36.27854, "36.2785"}, {0.00005, "0.0001"}, {-3, "0"}, {math.NaN(), "0"}, {1.55e-7, "0"},
	} {
		if got := DecimalCLV(tt.in).String(); got != tt.want {
			t.Errorf("DecimalCLV(%v) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestUnitsPerMonth(t *testing.T) {
	// lifetimes' convention (the README says clvsync follows it): 4.345
	// weeks or 30 days per month; it was 4.3482 weeks and 30.4375 days.
	if UnitsPerMonth(Week) != 4.345 || UnitsPerMonth(Day) != 30 {
		t.Errorf("UnitsPerMonth = %v weeks, %v days; want 4.345 and 30 (lifetimes)", UnitsPerMonth(Week), UnitsPerMonth(Day))
	}
	checkSig(t, "month", UnitsPerMonth(Month), 1, 6)
}

func TestFitModels(t *testing.T) {
	_, ss := cdnowSummaryByID(t)
	t.Run("cdnow", func(t *testing.T) {
		for _, model := range []string{"", ModelBGNBD, ModelMBGNBD} {
			f, err := FitModels(ss, FitOptions{Model: model})
			if err != nil {
				t.Fatal(err)
			}
			if f.Customers != 2357 || f.RepeatBuyers != 946 {
				t.Errorf("customers %d repeat %d", f.Customers, f.RepeatBuyers)
			}
			checkSig(t, "spend LL", f.SpendLogLik, -4055.9232, 7)
		}
	})
	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			name string
			ss   []Summary
			opts FitOptions
			want error
		}{
			{"too few customers", ss[:10], FitOptions{}, ErrInsufficientData},
			{"too few repeat buyers", ss[:200], FitOptions{MinRepeatBuyers: 1000}, ErrInsufficientData},
			{"all one-time buyers", repeatSummary(Summary{T: 10}, 100), FitOptions{}, ErrInsufficientData},
			{"identical customers", repeatSummary(Summary{X: 2, Tx: 5, T: 10, MeanSpend: 20}, 100), FitOptions{}, ErrDegenerateFit},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := FitModels(tt.ss, tt.opts)
				if !errors.Is(err, tt.want) {
					t.Errorf("err = %v, want %v", err, tt.want)
				}
			})
		}
		if _, err := FitModels(ss, FitOptions{Model: "nope"}); err == nil {
			t.Error("unknown model accepted")
		}
	})
}

func repeatSummary(s Summary, n int) []Summary {
	out := make([]Summary, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestBacktest_CDNOW(t *testing.T) {
	orders, ids := loadCDNOWOrders(t)
	holdoutEnd := time.Date(1998, 6, 30, 0, 0, 0, 0, time.UTC)
	var cal []Summary
	var act []Holdout
	for _, id := range ids {
		s, h, _ := SplitHoldout(id, orders[id], cdnowCalibrationEnd, holdoutEnd, Week)
		cal = append(cal, s)
		act = append(act, h)
	}
	f, err := FitModels(cal, FitOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Backtest(f, cal, act, UnitsBetween(cdnowCalibrationEnd, holdoutEnd, Week))
	if err != nil {
		t.Fatal(err)
	}
	// The BG/NBD is known to under-forecast CDNOW's 39-week holdout by
	// about 12% (1653 predicted vs 1882 repeat occasions).
	if math.Abs(res.AggregateErrorPct) > 15 {
		t.Errorf("aggregate error %.1f%%", res.AggregateErrorPct)
	}
	if res.Correlation < 0.5 {
		t.Errorf("correlation %.3f", res.Correlation)
	}
	if len(res.Deciles) != 10 || res.Deciles[0].MeanPredicted < res.Deciles[9].MeanPredicted {
		t.Errorf("deciles %+v", res.Deciles)
	}
	n := 0
	for _, d := range res.Deciles {
		n += d.Customers
	}
	if n != 2357 {
		t.Errorf("decile customers %d", n)
	}
	t.Logf("holdout purchases predicted %.1f actual %.0f (%.2f%%), MAE %.3f, r %.3f",
		res.PredictedPurchases, res.ActualPurchases, res.AggregateErrorPct, res.MAEPurchases, res.Correlation)
	if _, err := Backtest(f, cal, act[:5], 39); err == nil {
		t.Error("misaligned input accepted")
	}
}

// TestPredict_seriesNotConverged: with a tiny α the E[Y] series runs at
// z = 1 - 1e-12 and used to stop at 200,000 terms without a word.
func TestPredict_seriesNotConverged(t *testing.T) {
	m := BGNBD{R: 0.24, Alpha: 1e-6, A: 0.79, B: 2.43}
	s := Summary{ID: "c", X: 0, Tx: 0, T: 0}
	if _, ok := m.conditionalExpectedOK(1e6, s); ok {
		t.Fatal("series at z = 1 - 1e-12 reported as converged")
	}
	f := &Fitted{Purchase: m, Spend: GammaGamma{P: 6, Q: 4, Gamma: 15}}
	p := f.Predict(s, 12, 0.01, 1e6/12)
	if !p.Flags.Has(FlagNotConverged) {
		t.Errorf("Predict flags %q, want %s", p.Flags, FlagNotConverged)
	}
	if p := f.Predict(Summary{X: 2, Tx: 30.43, T: 38.86}, 12, 0.01, 4.345); len(p.Flags) != 0 {
		t.Errorf("flags %q on an ordinary customer", p.Flags)
	}
}
