package clv

import (
	"fmt"
	"math"
	"sort"
)

// BacktestDecile is one row of the decile table: customers ranked by
// predicted holdout purchases, highest first.
type BacktestDecile struct {
	Decile             int     `json:"decile"`
	Customers          int     `json:"customers"`
	MeanPredicted      float64 `json:"mean_predicted"`
	MeanActual         float64 `json:"mean_actual"`
	PredictedSpend     float64 `json:"predicted_spend"`
	ActualSpend        float64 `json:"actual_spend"`
	MeanPAlive         float64 `json:"mean_p_alive"`
	MinPredicted       float64 `json:"min_predicted"`
	MaxPredicted       float64 `json:"max_predicted"`
	PredictedPurchases float64 `json:"predicted_purchases"` // total predicted purchases in the decile
	ActualPurchases    float64 `json:"actual_purchases"`    // total actual purchases in the decile
}

// BacktestResult compares holdout predictions with what customers did.
type BacktestResult struct {
	// Customers is the number of customers compared.
	Customers int `json:"customers"`
	// HoldoutLength is the holdout period in model time units.
	HoldoutLength float64 `json:"holdout_length"`
	// PredictedPurchases and ActualPurchases are totals over customers.
	PredictedPurchases float64 `json:"predicted_purchases"`
	ActualPurchases    float64 `json:"actual_purchases"`
	// PredictedSpend and ActualSpend are total holdout revenue, predicted
	// as E[Y]·E[M] per customer.
	PredictedSpend float64 `json:"predicted_spend"`
	ActualSpend    float64 `json:"actual_spend"`
	// MAEPurchases and MAESpend are mean absolute errors per customer.
	MAEPurchases float64 `json:"mae_purchases"`
	MAESpend     float64 `json:"mae_spend"`
	// AggregateErrorPct is (predicted − actual)/actual·100 for total
	// purchases; AggregateSpendErrorPct the same for revenue.
	AggregateErrorPct      float64 `json:"aggregate_error_pct"`
	AggregateSpendErrorPct float64 `json:"aggregate_spend_error_pct"`
	// Correlation is the Pearson correlation of predicted and actual
	// purchases per customer; SpendCorrelation the same for revenue.
	Correlation      float64 `json:"correlation"`
	SpendCorrelation float64 `json:"spend_correlation"`
	// Deciles ranks customers by predicted purchases, top decile first.
	Deciles []BacktestDecile `json:"deciles"`
}

// Backtest predicts each calibration customer's purchases and spend over a
// holdout of holdoutLength model time units and compares them with actual,
// which must be aligned with calibration.
func Backtest(f *Fitted, calibration []Summary, actual []Holdout, holdoutLength float64) (BacktestResult, error) {
	if len(calibration) != len(actual) {
		return BacktestResult{}, fmt.Errorf("backtest: %d calibration summaries but %d holdout rows", len(calibration), len(actual))
	}
	if len(calibration) == 0 {
		return BacktestResult{}, fmt.Errorf("backtest: %w: no customers", ErrInsufficientData)
	}
	if !(holdoutLength > 0) || math.IsInf(holdoutLength, 0) {
		return BacktestResult{}, fmt.Errorf("backtest: holdout length %v must be positive", holdoutLength)
	}
	n := len(calibration)
	type row struct{ pred, act, predS, actS, alive float64 }
	rows := make([]row, n)
	res := BacktestResult{Customers: n, HoldoutLength: holdoutLength}
	for i, s := range calibration {
		e := finiteNonNeg(f.Purchase.ConditionalExpected(holdoutLength, s))
		m := f.ExpectedSpend(s)
		rows[i] = row{e, actual[i].Purchases, e * m, actual[i].Spend, f.Purchase.PAlive(s)}
		res.PredictedPurchases += e
		res.ActualPurchases += actual[i].Purchases
		res.PredictedSpend += e * m
		res.ActualSpend += actual[i].Spend
		res.MAEPurchases += math.Abs(e - actual[i].Purchases)
		res.MAESpend += math.Abs(e*m - actual[i].Spend)
	}
	res.MAEPurchases /= float64(n)
	res.MAESpend /= float64(n)
	res.AggregateErrorPct = pctError(res.PredictedPurchases, res.ActualPurchases)
	res.AggregateSpendErrorPct = pctError(res.PredictedSpend, res.ActualSpend)
	pred, act, predS, actS := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i, r := range rows {
		pred[i], act[i], predS[i], actS[i] = r.pred, r.act, r.predS, r.actS
	}
	res.Correlation = pearson(pred, act)
	res.SpendCorrelation = pearson(predS, actS)

	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return rows[order[a]].pred > rows[order[b]].pred })
	groups := min(10, n)
	for d := range groups {
		lo, hi := n*d/groups, n*(d+1)/groups
		dec := BacktestDecile{Decile: d + 1, Customers: hi - lo, MinPredicted: math.Inf(1)}
		for _, i := range order[lo:hi] {
			r := rows[i]
			dec.PredictedPurchases += r.pred
			dec.ActualPurchases += r.act
			dec.PredictedSpend += r.predS
			dec.ActualSpend += r.actS
			dec.MeanPAlive += r.alive
			dec.MinPredicted = min(dec.MinPredicted, r.pred)
			dec.MaxPredicted = max(dec.MaxPredicted, r.pred)
		}
		k := float64(dec.Customers)
		dec.MeanPredicted, dec.MeanActual, dec.MeanPAlive = dec.PredictedPurchases/k, dec.ActualPurchases/k, dec.MeanPAlive/k
		res.Deciles = append(res.Deciles, dec)
	}
	return res, nil
}

func pctError(pred, act float64) float64 {
	if act == 0 {
		return 0 // undefined; reported as 0 rather than Inf
	}
	return (pred - act) / act * 100
}

// pearson returns the correlation of a and b, or 0 when either is constant.
func pearson(a, b []float64) float64 {
	n := float64(len(a))
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma /= n
	mb /= n
	var sab, saa, sbb float64
	for i := range a {
		da, db := a[i]-ma, b[i]-mb
		sab += da * db
		saa += da * da
		sbb += db * db
	}
	if saa == 0 || sbb == 0 {
		return 0
	}
	return sab / math.Sqrt(saa*sbb)
}
