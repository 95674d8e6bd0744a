package sync

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/clvsync/clvsync/clv"
	"github.com/clvsync/clvsync/sync/config"
)

// MetaModel is the store meta key holding the StoredModel as JSON.
const MetaModel = "model"

// StoredModel is the versioned model a run predicts with. A run refits only
// when the model is due (model.refit), when the settings it depends on
// changed (config.ModelHash), when the last fit fell back to the simple
// formulas, or when asked (`run --refit`); between refits a contact's values
// change only because its own orders changed or time passed, never because
// somebody else bought something.
type StoredModel struct {
	// Version counts fits, from 1.
	Version  int       `json:"version"`
	FittedAt time.Time `json:"fitted_at"`
	// Reason says why this fit was made.
	Reason string `json:"reason"`
	// Hash is config.ModelHash when the model was fitted.
	Hash string `json:"hash"`
	// Type is the purchase model (clv.Model*), config.ModelSubscription, or
	// config.ModelSimple when the simple formulas are used.
	Type string `json:"type"`
	// Fallback says why the simple formulas are used instead of the
	// configured model; empty when they were configured.
	Fallback string `json:"fallback,omitempty"`
	// Params are the purchase model's (or the sBG retention model's)
	// parameters; Spend the Gamma-Gamma spend model's.
	Params       map[string]float64 `json:"params,omitempty"`
	Spend        map[string]float64 `json:"spend,omitempty"`
	LogLik       float64            `json:"loglik,omitempty"`
	SpendLogLik  float64            `json:"spend_loglik,omitempty"`
	Customers    int                `json:"customers,omitempty"`
	RepeatBuyers int                `json:"repeat_buyers,omitempty"`
	// SpendFallback and AverageSpend are clv.Fitted's: why the spend model
	// is not used, and the observed average spend used instead.
	SpendFallback string  `json:"spend_fallback,omitempty"`
	AverageSpend  float64 `json:"average_spend,omitempty"`
	// Cov is the fitted parameters' covariance (clv.Fitted.Cov): intervals
	// carry parameter uncertainty with it. Models stored before it existed
	// have none until their next refit.
	Cov *clv.ParamCov `json:"param_cov,omitempty"`
	// Tournament is the scorecard that chose Type under model.type auto.
	Tournament *Tournament `json:"tournament,omitempty"`
	// Rhythm is the base's typical time between purchases in model time
	// units (clv.BuyingRhythm) at the time of the fit: churn risk reads
	// recency against it.
	Rhythm float64 `json:"rhythm,omitempty"`
	// Base is the base-wide averages behind the simple formulas at the time
	// of the fit.
	Base clv.SimpleBase `json:"base"`
}

// Tournament is how the purchase models scored on a holdout of the
// portal's own history when model.type is auto.
type Tournament struct {
	CalibrationEnd time.Time         `json:"calibration_end"`
	HoldoutEnd     time.Time         `json:"holdout_end"`
	Scores         []TournamentScore `json:"scores,omitempty"`
	Winner         string            `json:"winner,omitempty"`
	// Scored is how many customers the models were scored on, of
	// Customers: every one with an order before the calibration end, or on
	// portals larger than the tournament's sample a sample of them
	// (tournamentSample).
	Scored    int `json:"scored,omitempty"`
	Customers int `json:"customers,omitempty"`
	// Note says why there was no tournament, when there was none.
	Note string `json:"note,omitempty"`
}

// TournamentScore is one model's holdout score: the mean absolute error of
// holdout purchases per customer, the aggregate bias and the calibration
// error by frequency bucket (clv.ModelScore).
type TournamentScore struct {
	Model            string  `json:"model"`
	MAE              float64 `json:"mae"`
	BiasPct          float64 `json:"bias_pct"`
	CalibrationError float64 `json:"calibration_error"`
	Error            string  `json:"error,omitempty"`
}

func (t *Tournament) score(model string) (TournamentScore, bool) {
	for _, s := range t.Scores {
		if s.Model == model {
			return s, true
		}
	}
	return TournamentScore{}, false
}

func (t *Tournament) String() string {
	if t.Note != "" {
		return t.Note
	}
	parts := make([]string, len(t.Scores))
	for i, s := range t.Scores {
		if s.Error != "" {
			parts[i] = fmt.Sprintf("%s not fitted (%s)", s.Model, s.Error)
			continue
		}
		parts[i] = fmt.Sprintf("%s MAE %.3f, bias %+.1f%%, calibration %.3f", s.Model, s.MAE, s.BiasPct, s.CalibrationError)
	}
	on := ""
	if t.Scored > 0 {
		on = fmt.Sprintf(" on %d of %d customers", t.Scored, t.Customers)
	}
	return fmt.Sprintf("holdout %s to %s%s: %s; winner %s", t.CalibrationEnd.Format("2006-01-02"), t.HoldoutEnd.Format("2006-01-02"),
		on, strings.Join(parts, "; "), t.Winner)
}

// LoadModel reads the stored model of the contacts; ok is false when none
// was stored yet.
func LoadModel(meta interface{ Meta(string) (string, error) }) (m StoredModel, ok bool, err error) {
	return loadModel(meta, MetaModel)
}

func loadModel(meta interface{ Meta(string) (string, error) }, key string) (m StoredModel, ok bool, err error) {
	raw, err := meta.Meta(key)
	if err != nil || raw == "" {
		return m, false, err
	}
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return m, false, fmt.Errorf("stored model (meta %q): %w", key, err)
	}
	return m, true, nil
}

func (r *Runner) saveModel(m StoredModel) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return r.Store.SetMeta(r.unitOf().modelKey, string(b))
}

// refitReason says why the model must be fitted again now, or "" when the
// stored one serves.
func refitReason(m StoredModel, ok bool, cfg config.Config, now time.Time, asked bool) string {
	switch {
	case !ok:
		return "first fit"
	case asked:
		return "asked (--refit)"
	case m.Hash != cfg.ModelHash():
		return "the deal mapping or the model settings changed"
	case m.Fallback != "":
		return "the last fit fell back to the simple formulas"
	case cfg.Model.Refit <= 0:
		return "model.refit is 0 (every run)"
	case now.Sub(m.FittedAt) >= time.Duration(cfg.Model.Refit):
		return fmt.Sprintf("%d days since the last fit (model.refit %s)", int(now.Sub(m.FittedAt).Hours()/24), fmtDuration(cfg.Model.Refit))
	}
	return ""
}

func fmtDuration(d config.Duration) string {
	v, _ := d.MarshalYAML()
	return fmt.Sprint(v)
}

// purchaseModel rebuilds the fitted purchase and spend models from their
// stored parameters.
func (m StoredModel) fitted() (*clv.Fitted, error) {
	p := m.Params
	var pm clv.PurchaseModel
	switch m.Type {
	case clv.ModelBGNBD:
		pm = clv.BGNBD{R: p["r"], Alpha: p["alpha"], A: p["a"], B: p["b"]}
	case clv.ModelMBGNBD:
		pm = clv.MBGNBD{R: p["r"], Alpha: p["alpha"], A: p["a"], B: p["b"]}
	case clv.ModelParetoNBD:
		pm = clv.ParetoNBD{R: p["r"], Alpha: p["alpha"], S: p["s"], Beta: p["beta"]}
	case clv.ModelMBGCNBD:
		pm = clv.MBGCNBD{K: int(p["k"]), R: p["r"], Alpha: p["alpha"], A: p["a"], B: p["b"]}
	default:
		return nil, fmt.Errorf("stored model %q is not a purchase model", m.Type)
	}
	s := m.Spend
	return &clv.Fitted{Purchase: pm, Spend: clv.GammaGamma{P: s["p"], Q: s["q"], Gamma: s["gamma"]},
		LogLik: m.LogLik, SpendLogLik: m.SpendLogLik, Customers: m.Customers, RepeatBuyers: m.RepeatBuyers,
		SpendFallback: m.SpendFallback, AverageSpend: m.AverageSpend, Cov: m.Cov}, nil
}

// Note is the model's line in the run summary and the report: what
// predicts, fitted when, on what, with which parameters.
func (m StoredModel) Note() string {
	if m.Type == config.ModelSimple {
		if m.Fallback != "" {
			return fmt.Sprintf("v%d (%s): fallback to the simple formulas: %s", m.Version, m.FittedAt.Format("2006-01-02"), m.Fallback)
		}
		return fmt.Sprintf("v%d (%s): the simple formulas", m.Version, m.FittedAt.Format("2006-01-02"))
	}
	s := fmt.Sprintf("%s v%d fitted %s on %d customers", m.Type, m.Version, m.FittedAt.Format("2006-01-02"), m.Customers)
	if m.Customers > 0 && m.LogLik != 0 {
		s += fmt.Sprintf(" (log-likelihood %.1f, %.3f per customer)", m.LogLik, m.LogLik/float64(m.Customers))
	}
	if len(m.Params) > 0 {
		s += ": " + fmtParams(m.Params)
	}
	if m.Tournament != nil {
		s += "; tournament " + m.Tournament.String()
	}
	if m.Type != config.ModelSubscription {
		s += fmt.Sprintf("; spend model on %d repeat buyers", m.RepeatBuyers)
		if m.SpendFallback != "" {
			s += " (" + m.SpendFallback + ")"
		}
	}
	return s
}

// describe is the model's line in the run summary and the run log.
func (m StoredModel) describe() string {
	s := fmt.Sprintf("%s v%d fitted %s", m.Type, m.Version, m.FittedAt.Format("2006-01-02"))
	if m.Fallback != "" {
		s += " (fallback to the simple formulas: " + m.Fallback + ")"
	}
	if len(m.Params) > 0 {
		s += " " + fmtParams(m.Params)
	}
	if m.LogLik != 0 {
		s += fmt.Sprintf(" log-likelihood %.2f", m.LogLik)
	}
	return s
}

func fmtParams(p map[string]float64) string {
	out := ""
	for _, k := range []string{"k", "r", "alpha", "a", "b", "s", "beta"} {
		if v, ok := p[k]; ok {
			if out != "" {
				out += " "
			}
			out += fmt.Sprintf("%s=%.4g", k, v)
		}
	}
	return out
}
