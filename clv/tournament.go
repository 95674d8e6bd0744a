package clv

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"
)

// TournamentModels are the purchase models a tournament compares by
// default.
var TournamentModels = []string{ModelBGNBD, ModelMBGNBD, ModelParetoNBD, ModelMBGCNBD}

// TournamentOptions configures Tournament. Zero values select the defaults.
type TournamentOptions struct {
	// Models are the purchase models to compare (default TournamentModels).
	Models []string
	// MinCustomers and MinRepeatBuyers are passed to FitModelsContext.
	MinCustomers, MinRepeatBuyers int
}

// FrequencyBucket is one row of a calibration-by-frequency table: the
// calibration customers with X repeat purchases (X = MaxBucket means
// MaxBucket or more), their mean predicted and mean actual holdout
// purchases.
type FrequencyBucket struct {
	X                         int
	Customers                 int
	MeanPredicted, MeanActual float64
}

// MaxBucket is the last frequency bucket, "7 or more repeat purchases".
const MaxBucket = 7

// ModelScore is one model's result in a tournament.
type ModelScore struct {
	Model string
	// Err is the fit error, nil when the model was fitted and scored.
	Err error
	// Params and LogLik are the calibration fit.
	Params map[string]float64
	LogLik float64
	// MAE is the mean absolute error of holdout purchases per customer.
	MAE float64
	// BiasPct is the aggregate bias, (predicted − actual)/actual·100 of total
	// holdout purchases.
	BiasPct float64
	// CalibrationError is the customer-weighted mean absolute difference
	// between mean predicted and mean actual holdout purchases over the
	// frequency buckets: Σ_b n_b·|pred_b − act_b| / N.
	CalibrationError float64
	Buckets          []FrequencyBucket
	// Fitted is the calibration fit (nil when Err is set).
	Fitted *Fitted
}

// Scorecard is the result of a Tournament.
type Scorecard struct {
	// Customers is the number of calibration customers; HoldoutLength the
	// holdout period in model time units.
	Customers     int
	HoldoutLength float64
	// ActualPurchases is the total number of holdout purchases.
	ActualPurchases float64
	// Scores are in the order of TournamentOptions.Models.
	Scores []ModelScore
	// Winner is the model with the lowest MAE among those fitted; ties go to
	// the lower calibration error, then to the earlier model in the list.
	Winner string
}

// Score returns the score of the named model and whether it was in the
// tournament.
func (s Scorecard) Score(model string) (ModelScore, bool) {
	for _, m := range s.Scores {
		if m.Model == model {
			return m, true
		}
	}
	return ModelScore{}, false
}

// Tournament fits each purchase model on the calibration summaries, predicts
// every customer's purchases over the holdout (holdoutLength model time
// units, holdout aligned with calibration, as from SplitHoldout) and scores
// the predictions: per-customer MAE, aggregate bias and calibration by
// frequency bucket. The winner has the lowest MAE. A model whose fit fails
// is listed with its error and cannot win; Tournament fails only when no
// model could be fitted or ctx is done. Callers then refit the winner on
// all data.
func Tournament(ctx context.Context, calibration []Summary, holdout []Holdout, holdoutLength float64, opts TournamentOptions) (Scorecard, error) {
	if len(calibration) != len(holdout) {
		return Scorecard{}, fmt.Errorf("tournament: %d calibration summaries but %d holdout rows", len(calibration), len(holdout))
	}
	if !(holdoutLength > 0) || math.IsInf(holdoutLength, 0) {
		return Scorecard{}, fmt.Errorf("tournament: holdout length %v must be positive", holdoutLength)
	}
	models := opts.Models
	if len(models) == 0 {
		models = TournamentModels
	}
	sc := Scorecard{Customers: len(calibration), HoldoutLength: holdoutLength}
	for _, h := range holdout {
		sc.ActualPurchases += h.Purchases
	}
	var errs []error
	for _, name := range models {
		ms := ModelScore{Model: name}
		f, err := FitModelsContext(ctx, calibration, FitOptions{Model: name, MinCustomers: opts.MinCustomers, MinRepeatBuyers: opts.MinRepeatBuyers})
		if ctxErr := ctx.Err(); ctxErr != nil {
			return Scorecard{}, fmt.Errorf("tournament: %w", canceled(ctx))
		}
		if err != nil {
			ms.Err = err
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			sc.Scores = append(sc.Scores, ms)
			continue
		}
		ms.Fitted, ms.Params, ms.LogLik = f, f.Purchase.Params(), f.LogLik
		scoreHoldout(&ms, f.Purchase, calibration, holdout, holdoutLength)
		sc.Scores = append(sc.Scores, ms)
	}
	best := -1
	for i, m := range sc.Scores {
		if m.Err != nil {
			continue
		}
		if best < 0 || m.MAE < sc.Scores[best].MAE ||
			(m.MAE == sc.Scores[best].MAE && m.CalibrationError < sc.Scores[best].CalibrationError) {
			best = i
		}
	}
	if best < 0 {
		return sc, fmt.Errorf("tournament: no model could be fitted: %w", errors.Join(errs...))
	}
	sc.Winner = sc.Scores[best].Model
	return sc, nil
}

// scoreHoldout fills the holdout scores of ms.
func scoreHoldout(ms *ModelScore, m PurchaseModel, cal []Summary, hold []Holdout, length float64) {
	var pred, act, absErr float64
	buckets := make([]FrequencyBucket, MaxBucket+1)
	for i := range buckets {
		buckets[i].X = i
	}
	for i, s := range cal {
		e := finiteNonNeg(m.ConditionalExpected(length, s))
		pred += e
		act += hold[i].Purchases
		absErr += math.Abs(e - hold[i].Purchases)
		b := &buckets[min(int(s.X), MaxBucket)]
		b.Customers++
		b.MeanPredicted += e
		b.MeanActual += hold[i].Purchases
	}
	n := float64(len(cal))
	if n > 0 {
		ms.MAE = absErr / n
	}
	ms.BiasPct = pctError(pred, act)
	var calErr float64
	for i := range buckets {
		b := &buckets[i]
		if b.Customers == 0 {
			continue
		}
		k := float64(b.Customers)
		calErr += math.Abs(b.MeanPredicted - b.MeanActual)
		b.MeanPredicted /= k
		b.MeanActual /= k
		ms.Buckets = append(ms.Buckets, *b)
	}
	if n > 0 {
		ms.CalibrationError = calErr / n
	}
}

// SplitLog splits a transaction log (orders per customer ID) at
// calibrationEnd for a tournament or backtest: the calibration summaries and
// the holdout through holdoutEnd, aligned, in ID order (see SplitHoldout).
// Customers without an order on or before the calibrationEnd day are left
// out.
func SplitLog(log map[string][]Order, calibrationEnd, holdoutEnd time.Time, unit TimeUnit) ([]Summary, []Holdout) {
	ids := make([]string, 0, len(log))
	for id := range log {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var ss []Summary
	var hs []Holdout
	for _, id := range ids {
		if s, h, ok := SplitHoldout(id, log[id], calibrationEnd, holdoutEnd, unit); ok {
			ss = append(ss, s)
			hs = append(hs, h)
		}
	}
	return ss, hs
}
