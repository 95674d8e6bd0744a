package config

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/shopspring/decimal"
	"gopkg.in/yaml.v3"

	"github.com/clvsync/clvsync/clv"
	"github.com/clvsync/clvsync/hubspot"
)

// Config is the whole clvsync configuration: one YAML file that an admin owns.
// DefaultConfig gives every default; ParseConfig overlays a file on it and
// rejects unknown keys; Validate reports every problem at once.
type Config struct {
	HubSpot     HubSpotConfig    `yaml:"hubspot"`
	State       StateConfig      `yaml:"state"`
	Schedule    ScheduleConfig   `yaml:"schedule"`
	Deals       DealsConfig      `yaml:"deals"`
	Attribution string           `yaml:"attribution"` // AttributionAll | AttributionSplit | AttributionPrimary
	Companies   bool             `yaml:"companies"`   // also compute company-level values
	Model       ModelConfig      `yaml:"model"`
	Segments    SegmentsConfig   `yaml:"segments"`
	WriteBack   WriteBackConfig  `yaml:"write_back"`
	Outputs     OutputsConfig    `yaml:"outputs"`
	Reports     ReportsConfig    `yaml:"reports"`
	Operations  OperationsConfig `yaml:"operations"`
	Webhooks    WebhooksConfig   `yaml:"webhooks"` // serve's real-time path (webhooks.go)
}

// Attribution rules: who a deal with several contacts counts for.
const (
	AttributionAll     = "all"     // every associated contact gets the whole deal
	AttributionSplit   = "split"   // shared evenly
	AttributionPrimary = "primary" // only the primary contact
)

// HubSpotConfig is the connection. The token is never in this file: it comes
// from the HUBSPOT_TOKEN environment variable or from TokenFile.
type HubSpotConfig struct {
	APIVersion     string  `yaml:"api_version"` // 2026-09 | v3
	Tier           string  `yaml:"tier"`        // free | starter | professional | enterprise | api-pack
	RateLimitShare float64 `yaml:"rate_limit_share"`
	BaseURL        string  `yaml:"base_url"`
	TokenFile      string  `yaml:"token_file,omitempty"`
	// Token is accepted by the YAML decoder only so that a token pasted into
	// the file is caught by Validate with a clear message instead of a vague
	// "unknown key".
	Token string `yaml:"token,omitempty"`
}

// StateConfig is the local state file.
type StateConfig struct {
	Path             string `yaml:"path"`
	HistoryRetention int    `yaml:"history_retention"` // CLV history points kept per contact
	RunRetention     int    `yaml:"run_retention"`     // run log entries kept
}

// ScheduleConfig drives `clvsync serve`.
type ScheduleConfig struct {
	Cron        string   `yaml:"cron"`        // incremental runs; 5-field, @every 6h, @daily ...
	FullResync  string   `yaml:"full_resync"` // optional second schedule for full resyncs
	TimeZone    string   `yaml:"timezone"`
	RunTimeout  Duration `yaml:"run_timeout"`
	GracePeriod Duration `yaml:"grace_period"`
	OverlapSkew Duration `yaml:"incremental_overlap"` // how far back incremental searches reach before the cursor
	// AssociationRefreshEvery re-reads won deals' associations every Nth
	// incremental run (0: only full resyncs).
	AssociationRefreshEvery int `yaml:"association_refresh_every"`
}

// DealsConfig maps deal properties to CLV inputs.
type DealsConfig struct {
	AmountProperty    string `yaml:"amount_property"`
	CurrencyProperty  string `yaml:"currency_property"`
	CloseDateProperty string `yaml:"close_date_property"`
	// WonStages is "auto" (the stages HubSpot marks closed-won: isClosed and
	// probability 1.0) or an explicit list.
	WonStages WonStages `yaml:"won_stages"`
	// Pipelines limits the computation to these pipeline ids (empty: all).
	Pipelines []string `yaml:"pipelines"`
	// Currencies lists the deal currencies accepted; empty accepts any
	// currency for which the amount property already holds a home-currency
	// value.
	Currencies []string `yaml:"currencies"`
	// HomeCurrency is the portal's company currency, for reports.
	HomeCurrency string `yaml:"home_currency"`
	// SourceProperty is the contact property that names the acquisition source.
	SourceProperty string `yaml:"source_property"` // acquisition source, default hs_analytics_source
}

// WonStages is "auto" or a list of pipeline/stage pairs.
type WonStages struct {
	Auto   bool
	Stages []StageRef
}

// StageRef names one deal stage in one pipeline.
type StageRef struct {
	Pipeline string `yaml:"pipeline"`
	Stage    string `yaml:"stage"`
}

// UnmarshalYAML accepts `auto` or a list of {pipeline, stage}.
func (w *WonStages) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if n.Value != "auto" {
			return fmt.Errorf("line %d: deals.won_stages must be \"auto\" or a list of {pipeline, stage}, got %q", n.Line, n.Value)
		}
		*w = WonStages{Auto: true}
		return nil
	}
	var refs []StageRef
	if err := n.Decode(&refs); err != nil {
		return fmt.Errorf("deals.won_stages: %w", err)
	}
	*w = WonStages{Stages: refs}
	return nil
}

// MarshalYAML writes `auto` or the list.
func (w WonStages) MarshalYAML() (any, error) {
	if w.Auto {
		return "auto", nil
	}
	return w.Stages, nil
}

// Model types clvsync has besides clv's purchase models (clv.PurchaseModels).
const (
	// ModelSubscription is the shifted-beta-geometric retention model.
	ModelSubscription = "subscription"
	// ModelSimple is the simple formulas, also the fallback of every model.
	ModelSimple = "simple"
	// ModelAuto runs a tournament of the purchase models at each refit
	// and predicts with the winner.
	ModelAuto = "auto"
)

// ModelNames returns every model a run can predict with: clv's purchase
// models, then subscription and simple. It is the option list of the model
// output.
func ModelNames() []string {
	return append(clv.PurchaseModels(), ModelSubscription, ModelSimple)
}

// ModelTypes returns every value model.type takes, default first: auto,
// then the models of ModelNames.
func ModelTypes() []string {
	return append([]string{ModelAuto}, ModelNames()...)
}

// quotedList writes "a", "b" or "c".
func quotedList(vs []string) string {
	q := make([]string, len(vs))
	for i, v := range vs {
		q[i] = strconv.Quote(v)
	}
	if len(q) < 2 {
		return strings.Join(q, "")
	}
	return strings.Join(q[:len(q)-1], ", ") + " or " + q[len(q)-1]
}

// modelFix lists the model types for a Problem's fix.
func modelFix() string {
	ts := ModelTypes()
	return "use " + ts[0] + " (default), " + strings.Join(ts[1:len(ts)-1], ", ") + " or " + ts[len(ts)-1]
}

// ModelConfig holds the CLV model settings.
type ModelConfig struct {
	Type               string  `yaml:"type"` // one of ModelTypes
	HorizonMonths      int     `yaml:"horizon_months"`
	AnnualDiscountRate float64 `yaml:"annual_discount_rate"`
	Margin             float64 `yaml:"margin"`         // gross margin as a fraction, 1 = revenue
	CostPerOrder       string  `yaml:"cost_per_order"` // money, decimal string
	TimeUnit           string  `yaml:"time_unit"`      // day | week | month
	MinCustomers       int     `yaml:"min_customers"`
	MinRepeatBuyers    int     `yaml:"min_repeat_buyers"`
	SimplePeriodMonths int     `yaml:"simple_period_months"` // period of the "average purchases" formula
	// Refit is how often the purchase and spend models are fitted again.
	// Between refits a run predicts with the stored parameters, so a
	// contact's values change only when its own orders change or time
	// passes. 0 refits on every run.
	Refit Duration `yaml:"refit"`
	// FitBudget bounds each model's fit in a tournament (model.type auto):
	// a model that takes longer is left out, and the scorecard says so.
	FitBudget Duration `yaml:"fit_budget"`
}

// SegmentsConfig configures tiers, RFM, quadrant, churn risk and trend.
type SegmentsConfig struct {
	Tiers    TiersConfig    `yaml:"tiers"`
	RFM      clv.RFMConfig  `yaml:"rfm"`
	Quadrant QuadrantConfig `yaml:"quadrant"`
	Churn    ChurnConfig    `yaml:"churn"`
	Trend    TrendConfig    `yaml:"trend"`
}

// TiersConfig splits customers by CLV percentile.
type TiersConfig struct {
	Basis         string    `yaml:"basis"` // clv.TierBasisPredicted | clv.TierBasisTotal
	Names         []string  `yaml:"names"` // top first
	Shares        []float64 `yaml:"shares"`
	Hysteresis    float64   `yaml:"hysteresis"` // percentile points a contact must pass a boundary by
	MinDaysInTier int       `yaml:"min_days_in_tier"`
}

// QuadrantConfig names the CLV x relationship-length cells.
type QuadrantConfig struct {
	CLVThreshold string `yaml:"clv_threshold"` // "median" or a money amount
	TenureMonths string `yaml:"tenure_months"` // "median" or a number of months
	HighLong     string `yaml:"high_long"`
	HighShort    string `yaml:"high_short"`
	LowLong      string `yaml:"low_long"`
	LowShort     string `yaml:"low_short"`
}

// ChurnConfig maps P(alive) to churn risk.
type ChurnConfig struct {
	High   float64 `yaml:"high_below"`   // P(alive) below this: high risk
	Medium float64 `yaml:"medium_below"` // below this: medium
}

// TrendConfig compares CLV with earlier runs.
type TrendConfig struct {
	WindowDays int     `yaml:"window_days"`
	StableBand float64 `yaml:"stable_band"` // |change| within this share is "stable"
}

// WriteBackConfig damps writes so workflows do not fire on noise.
type WriteBackConfig struct {
	RoundingStep string  `yaml:"rounding_step"` // money written rounded to this step, "1" = whole units
	MinChange    float64 `yaml:"min_change"`    // relative money change below which nothing is written
	MaxChanges   string  `yaml:"max_changes"`   // abort when more contacts would change: "500" or "10%"; "" = no limit
	BatchSize    int     `yaml:"batch_size"`
	// MaxFailedShare is the share of a run's writes HubSpot may refuse
	// before the run counts as failed rather than partial.
	MaxFailedShare float64       `yaml:"max_failed_share"`
	Breaker        BreakerConfig `yaml:"breaker"`
}

// BreakerConfig is the circuit breaker: before writing, a run compares what
// it is about to write with what HubSpot holds now (the values clvsync last
// wrote) and writes nothing when the change looks like a broken mapping or
// data rather than customers' behaviour. Each limit is a share of the
// contacts it concerns; a rule trips only when more than MinContacts
// contacts are concerned.
type BreakerConfig struct {
	Enabled bool `yaml:"enabled"`
	// MaxTierMoves: contacts that change tier, of those that have one.
	MaxTierMoves float64 `yaml:"max_tier_moves"`
	// MaxZeroed: money values that would become zero or blank, of those
	// that are non-zero now.
	MaxZeroed float64 `yaml:"max_zeroed"`
	// MaxLostCustomers: customers with orders that would have none.
	MaxLostCustomers float64 `yaml:"max_lost_customers"`
	// MaxHalved: contacts whose CLV total would fall by half or more, of
	// those whose total is non-zero now. Customers' values fall slowly as
	// time passes; a collapse of many at once is a mapping that now reads
	// the wrong amounts.
	MaxHalved float64 `yaml:"max_halved"`
	// MinContacts is how many contacts a rule must concern before it can
	// trip, so a handful of changes in a small portal never does.
	MinContacts int `yaml:"min_contacts"`
}

// OutputsConfig maps each output to a HubSpot contact property, or "off".
type OutputsConfig struct {
	Group      string               `yaml:"group"`
	GroupLabel string               `yaml:"group_label"`
	Properties map[OutputKey]string `yaml:"properties"`
}

// DefaultSourceProperty is HubSpot's original-source contact property, the
// default of deals.source_property and reports.source_property.
const DefaultSourceProperty = "hs_analytics_source"

// SourceProperty is the contact property kept as each customer's
// acquisition source: reports.source_property when the admin changed it from
// the default, else deals.source_property. Either key alone changes it, so
// an admin who names their own source property in one place is not
// overruled by the other's default.
func (c Config) SourceProperty() string {
	if r := c.Reports.SourceProperty; r != "" && (r != DefaultSourceProperty || c.Deals.SourceProperty == "") {
		return r
	}
	return c.Deals.SourceProperty
}

// ReportsConfig configures business reports.
type ReportsConfig struct {
	SourceProperty  string  `yaml:"source_property"`
	TargetCLVToCAC  float64 `yaml:"target_clv_to_cac"`
	NewCustomerDays int     `yaml:"new_customer_days"`
}

// OperationsConfig configures the serve mode's HTTP endpoint and logs.
type OperationsConfig struct {
	Listen          string `yaml:"listen"`     // "" or "off" disables
	LogFormat       string `yaml:"log_format"` // auto | text | json
	LogLevel        string `yaml:"log_level"`  // debug | info | warn | error
	UnreadyFailures int    `yaml:"unready_after_failures"`
}

// Duration is a time.Duration that reads "30m" from YAML.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string, or a whole number of days
// such as "30d".
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (use e.g. 30m, 2h or 30d): %w", n.Line, n.Value, err)
	}
	*d = Duration(v)
	return nil
}

// ParseDuration parses a Go duration ("90m", "6h") or a whole number of
// days ("30d").
func ParseDuration(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok && days != "" && strings.Trim(days, "0123456789") == "" {
		n, err := strconv.Atoi(days)
		if err != nil || n > 100_000 {
			return 0, fmt.Errorf("%q is out of range", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	return time.ParseDuration(s)
}

// MarshalYAML writes the duration as a string, in days when it is a whole
// number of them.
func (d Duration) MarshalYAML() (any, error) {
	if v := time.Duration(d); v > 0 && v%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", v/(24*time.Hour)), nil
	}
	return time.Duration(d).String(), nil
}

// DefaultBreaker is the circuit breaker on by default. The limits were
// chosen from measurements (README, "Write-back that workflows can trust"):
// ordinary runs stay far below them, and a broken mapping far above.
func DefaultBreaker() BreakerConfig {
	return BreakerConfig{Enabled: true, MaxTierMoves: 0.25, MaxZeroed: 0.2, MaxLostCustomers: 0.2, MaxHalved: 0.2, MinContacts: 20}
}

// OutputKey names one output clvsync can write, as it appears under
// outputs.properties. The constants below are the only spelling of each key:
// code refers to them, so a misspelt key does not compile.
type OutputKey string

// Output keys, in the order they are set up and explained.
const (
	OutHistoricalRevenue OutputKey = "historical_revenue"
	OutHistorical        OutputKey = "historical"
	OutPredicted         OutputKey = "predicted"
	OutPredictedLow      OutputKey = "predicted_low"
	OutPredictedHigh     OutputKey = "predicted_high"
	OutConfidence        OutputKey = "confidence"
	OutPredictedRevenue  OutputKey = "predicted_revenue"
	OutTotal             OutputKey = "total"
	OutSimple            OutputKey = "simple"
	OutExpectedPurchases OutputKey = "expected_purchases"
	OutPAlive            OutputKey = "p_alive"
	OutOrders            OutputKey = "orders"
	OutFirstPurchase     OutputKey = "first_purchase"
	OutLastPurchase      OutputKey = "last_purchase"
	OutAvgOrderValue     OutputKey = "avg_order_value"
	OutAvgDaysBetween    OutputKey = "avg_days_between_orders"
	OutNextOrder         OutputKey = "expected_next_order"
	OutTier              OutputKey = "tier"
	OutPreviousTier      OutputKey = "previous_tier"
	OutTierChangedAt     OutputKey = "tier_changed_at"
	OutRFMScore          OutputKey = "rfm_score"
	OutRFMSegment        OutputKey = "rfm_segment"
	OutQuadrant          OutputKey = "quadrant"
	OutChurnRisk         OutputKey = "churn_risk"
	OutTrend             OutputKey = "trend"
	OutTrendChange       OutputKey = "trend_change"
	OutModel             OutputKey = "model"
	OutExplain           OutputKey = "explain"
	OutUpdatedAt         OutputKey = "updated_at"
)

// outputDefs lists every output in the order they are set up and explained. Money outputs are
// numbers with currency display.
var outputDefs = []OutputDef{
	{Key: OutHistoricalRevenue, Default: "clv_historical_revenue", Label: "CLV: revenue to date", Kind: KindMoney},
	{Key: OutHistorical, Default: "clv_historical", Label: "CLV: historical (profit to date)", Kind: KindMoney},
	{Key: OutPredicted, Default: "clv_predicted", Label: "CLV: predicted over horizon (profit)", Kind: KindMoney},
	{Key: OutPredictedLow, Default: "clv_predicted_low", Label: "CLV: predicted, low end (10th percentile)", Kind: KindMoney},
	{Key: OutPredictedHigh, Default: "clv_predicted_high", Label: "CLV: predicted, high end (90th percentile)", Kind: KindMoney},
	{Key: OutConfidence, Default: "clv_confidence", Label: "CLV: confidence in the prediction", Kind: KindSegment},
	{Key: OutPredictedRevenue, Default: "clv_predicted_revenue", Label: "CLV: predicted revenue over horizon", Kind: KindMoney},
	{Key: OutTotal, Default: "clv_total", Label: "CLV: total (historical + predicted)", Kind: KindMoney},
	{Key: OutSimple, Default: "clv_simple", Label: "CLV: simple formula", Kind: KindMoney},
	{Key: OutExpectedPurchases, Default: "clv_expected_purchases", Label: "CLV: expected purchases over horizon", Kind: KindNumber},
	{Key: OutPAlive, Default: "clv_p_alive", Label: "CLV: probability still active", Kind: KindNumber},
	{Key: OutOrders, Default: "clv_orders", Label: "CLV: won deals", Kind: KindNumber},
	{Key: OutFirstPurchase, Default: "clv_first_purchase", Label: "CLV: first purchase", Kind: KindDate},
	{Key: OutLastPurchase, Default: "clv_last_purchase", Label: "CLV: last purchase", Kind: KindDate},
	{Key: OutAvgOrderValue, Default: "clv_avg_order_value", Label: "CLV: average order value", Kind: KindMoney},
	{Key: OutAvgDaysBetween, Default: "clv_avg_days_between_orders", Label: "CLV: average days between orders", Kind: KindNumber},
	{Key: OutNextOrder, Default: "clv_expected_next_order", Label: "CLV: expected date of next order", Kind: KindDate},
	{Key: OutTier, Default: "clv_tier", Label: "CLV tier", Kind: KindSegment},
	{Key: OutPreviousTier, Default: "clv_previous_tier", Label: "CLV tier before the last change", Kind: KindSegment},
	{Key: OutTierChangedAt, Default: "clv_tier_changed_at", Label: "CLV tier changed at", Kind: KindDate},
	{Key: OutRFMScore, Default: "clv_rfm_score", Label: "RFM score", Kind: KindText},
	{Key: OutRFMSegment, Default: "clv_rfm_segment", Label: "RFM segment", Kind: KindSegment},
	{Key: OutQuadrant, Default: "clv_quadrant", Label: "CLV x relationship quadrant", Kind: KindSegment},
	{Key: OutChurnRisk, Default: "clv_churn_risk", Label: "Churn risk", Kind: KindSegment},
	{Key: OutTrend, Default: "clv_trend", Label: "CLV trend", Kind: KindSegment},
	{Key: OutTrendChange, Default: "clv_trend_change", Label: "CLV trend change (%)", Kind: KindNumber},
	{Key: OutModel, Default: "clv_model", Label: "CLV model used", Kind: KindSegment},
	{Key: OutExplain, Default: "clv_explain", Label: "CLV explained", Kind: KindText},
	{Key: OutUpdatedAt, Default: "clv_updated_at", Label: "CLV updated at", Kind: KindDateTime},
}

// OutputKind is how an output is typed in HubSpot.
type OutputKind int

// Output kinds.
const (
	KindMoney OutputKind = iota
	KindNumber
	KindDate
	KindDateTime
	KindSegment
	KindText
)

// OutputDef describes one output clvsync can write.
type OutputDef struct {
	Key     OutputKey
	Default string
	Label   string
	Kind    OutputKind
}

// Numeric reports whether outputs of this kind are numbers (money or not),
// which the write-back thresholds compare.
func (k OutputKind) Numeric() bool { return k == KindMoney || k == KindNumber }

// OutputDefs returns every output clvsync knows, in a stable order. The
// slice is shared: callers must not modify it.
func OutputDefs() []OutputDef { return outputDefs }

// Off is the output mapping value that disables an output.
const Off = "off"

// DefaultConfig returns the configuration used when a key is not set.
func DefaultConfig() Config {
	props := make(map[OutputKey]string, len(outputDefs))
	for _, d := range outputDefs {
		props[d.Key] = d.Default
	}
	return Config{
		HubSpot: HubSpotConfig{APIVersion: hubspot.Versions()[0], Tier: "professional", RateLimitShare: 0.8, BaseURL: "https://api.hubapi.com"},
		State:   StateConfig{Path: "./clvsync.db", HistoryRetention: 104, RunRetention: 1000},
		Schedule: ScheduleConfig{
			Cron: "0 */6 * * *", TimeZone: "UTC", RunTimeout: Duration(time.Hour),
			GracePeriod: Duration(30 * time.Second), OverlapSkew: Duration(5 * time.Minute),
			AssociationRefreshEvery: 1,
		},
		Deals: DealsConfig{
			AmountProperty: "amount_in_home_currency", CurrencyProperty: "deal_currency_code",
			CloseDateProperty: "closedate", WonStages: WonStages{Auto: true}, HomeCurrency: "USD",
			SourceProperty: DefaultSourceProperty,
		},
		Attribution: AttributionAll,
		Model: ModelConfig{
			Type: ModelAuto, HorizonMonths: 12, AnnualDiscountRate: 0.10, Margin: 1, CostPerOrder: "0",
			TimeUnit: "week", MinCustomers: 100, MinRepeatBuyers: 20, SimplePeriodMonths: 36,
			Refit: Duration(30 * 24 * time.Hour), FitBudget: Duration(time.Minute),
		},
		Segments: SegmentsConfig{
			Tiers:    TiersConfig{Basis: clv.TierBasisTotal, Names: []string{"top", "middle", "bottom"}, Shares: []float64{0.2, 0.6, 0.2}, Hysteresis: 0.02},
			RFM:      clv.DefaultRFMConfig(),
			Quadrant: QuadrantConfig{CLVThreshold: Median, TenureMonths: Median},
			Churn:    ChurnConfig{High: 0.3, Medium: 0.7},
			Trend:    TrendConfig{WindowDays: 90, StableBand: 0.05},
		},
		WriteBack: WriteBackConfig{RoundingStep: "1", MinChange: 0.02, BatchSize: 100, MaxFailedShare: 0.1,
			Breaker: DefaultBreaker()},
		Outputs:    OutputsConfig{Group: "clv", GroupLabel: "Customer lifetime value", Properties: props},
		Reports:    ReportsConfig{SourceProperty: DefaultSourceProperty, TargetCLVToCAC: 3, NewCustomerDays: 365},
		Operations: OperationsConfig{Listen: "127.0.0.1:9090", LogFormat: "auto", LogLevel: "info", UnreadyFailures: 3},
		Webhooks:   DefaultWebhooks(),
	}
}

// ParseConfig overlays YAML on DefaultConfig. Unknown keys are errors.
func ParseConfig(r io.Reader) (Config, error) {
	cfg := DefaultConfig()
	b, err := io.ReadAll(r)
	if err != nil {
		return cfg, err
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return cfg, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	// Output mappings overlay the defaults key by key.
	defaults := cfg.Outputs.Properties
	cfg.Outputs.Properties = nil
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return cfg, fmt.Errorf("parse YAML: %w", err)
	}
	merged := make(map[OutputKey]string, len(defaults))
	for k, v := range defaults {
		merged[k] = v
	}
	for k, v := range cfg.Outputs.Properties {
		merged[k] = v
	}
	cfg.Outputs.Properties = merged
	return cfg, nil
}

// ParseAll parses src like ParseConfig. When the file does not parse
// cleanly, the error is Problems holding every problem at once: each YAML
// problem (syntax, unknown keys, types) by key and line, and every
// validation problem of what did parse (a value of the wrong type keeps its
// default, so it is reported once). A file that parses is not validated:
// call Validate.
func ParseAll(src []byte) (Config, error) {
	cfg, err := ParseConfig(bytes.NewReader(src))
	if err == nil {
		return cfg, nil
	}
	ps := ParseProblems(src, err)
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return cfg, ps // a syntax error: nothing else parsed
	}
	var more Problems
	if errors.As(cfg.Validate(), &more) {
		for _, p := range more {
			if !slices.ContainsFunc(ps, func(q Problem) bool { return q.Key == p.Key }) {
				ps = append(ps, p)
			}
		}
	}
	return cfg, ps
}

// Problem is one thing wrong with a configuration: the key, what is wrong
// and how to fix it.
type Problem struct {
	Key, Msg, Fix string
}

func (p Problem) String() string {
	if p.Fix == "" {
		return fmt.Sprintf("%s: %s", p.Key, p.Msg)
	}
	return fmt.Sprintf("%s: %s (fix: %s)", p.Key, p.Msg, p.Fix)
}

// Problems is every problem found in a configuration; it is an error.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = "  - " + p.String()
	}
	return fmt.Sprintf("%d problem(s) in the configuration:\n%s", len(ps), strings.Join(lines, "\n"))
}

var propertyName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,99}$`)

// currencyCode matches an ISO 4217 code; HubSpot sends them upper case.
var currencyCode = regexp.MustCompile(`^[A-Za-z]{3}$`)

// Validate checks the configuration offline and returns every problem at
// once as Problems (nil when the configuration is good).
func (c Config) Validate() error {
	var ps Problems
	add := func(key, fix, format string, args ...any) {
		ps = append(ps, Problem{Key: key, Msg: fmt.Sprintf(format, args...), Fix: fix})
	}
	if c.HubSpot.Token != "" {
		add("hubspot.token", "delete the key and set the HUBSPOT_TOKEN environment variable or hubspot.token_file",
			"a token must never be written in the config file")
	}
	if vs := hubspot.Versions(); !slices.Contains(vs, c.HubSpot.APIVersion) {
		add("hubspot.api_version", fmt.Sprintf("use %q (recommended) or %s", vs[0], quotedList(vs[1:])), "unknown API version %q", c.HubSpot.APIVersion)
	}
	switch c.HubSpot.Tier {
	case "free", "starter", "professional", "enterprise", "api-pack":
	default:
		add("hubspot.tier", "use free, starter, professional, enterprise or api-pack", "unknown tier %q", c.HubSpot.Tier)
	}
	if !(c.HubSpot.RateLimitShare > 0 && c.HubSpot.RateLimitShare <= 1) {
		add("hubspot.rate_limit_share", "use a share in (0, 1], e.g. 0.8 to leave 20% to other integrations", "%v is out of range", c.HubSpot.RateLimitShare)
	}
	if !strings.HasPrefix(c.HubSpot.BaseURL, "http://") && !strings.HasPrefix(c.HubSpot.BaseURL, "https://") {
		add("hubspot.base_url", "use https://api.hubapi.com, or http://127.0.0.1:PORT for fakehub", "%q is not an http(s) URL", c.HubSpot.BaseURL)
	}
	if c.State.Path == "" {
		add("state.path", "set a file path, e.g. ./clvsync.db", "is empty")
	}
	if c.State.HistoryRetention < 2 {
		add("state.history_retention", "keep at least 2 points so trends can be computed", "%d is too small", c.State.HistoryRetention)
	}
	if c.State.RunRetention < 1 {
		add("state.run_retention", "keep at least 1 run", "%d is too small", c.State.RunRetention)
	}
	if _, err := cron.ParseStandard(c.Schedule.Cron); err != nil {
		add("schedule.cron", `use a 5-field cron expression ("0 */6 * * *"), "@every 6h" or "@daily"`, "%q: %v", c.Schedule.Cron, err)
	}
	if c.Schedule.FullResync != "" {
		if _, err := cron.ParseStandard(c.Schedule.FullResync); err != nil {
			add("schedule.full_resync", `use a cron expression such as "@weekly", or leave it empty`, "%q: %v", c.Schedule.FullResync, err)
		}
	}
	if _, err := time.LoadLocation(c.Schedule.TimeZone); err != nil {
		add("schedule.timezone", `use an IANA name such as "UTC" or "Europe/Berlin"`, "%q: %v", c.Schedule.TimeZone, err)
	}
	if c.Schedule.RunTimeout <= 0 {
		add("schedule.run_timeout", "use a positive duration such as 1h", "must be > 0")
	}
	if c.Schedule.GracePeriod <= 0 {
		add("schedule.grace_period", "use a positive duration such as 30s", "must be > 0")
	}
	if c.Schedule.OverlapSkew < 0 {
		add("schedule.incremental_overlap", "use a duration >= 0, e.g. 5m", "must not be negative")
	}
	for key, v := range map[string]string{"deals.amount_property": c.Deals.AmountProperty, "deals.close_date_property": c.Deals.CloseDateProperty} {
		if !propertyName.MatchString(v) {
			add(key, "use a HubSpot internal property name (lowercase, e.g. amount_in_home_currency); `clvsync properties` lists them", "%q is not a property name", v)
		}
	}
	// Optional property names: empty turns the input off.
	for _, in := range []struct{ key, v string }{
		{"deals.currency_property", c.Deals.CurrencyProperty},
		{"deals.source_property", c.Deals.SourceProperty},
		{"reports.source_property", c.Reports.SourceProperty},
	} {
		if in.v != "" && !propertyName.MatchString(in.v) {
			add(in.key, `use a HubSpot internal property name (lowercase), or ""; `+"`clvsync properties`"+` lists them`, "%q is not a property name", in.v)
		}
	}
	if !currencyCode.MatchString(c.Deals.HomeCurrency) {
		add("deals.home_currency", "use the ISO 4217 code of the company currency, e.g. USD or EUR", "%q is not a currency code", c.Deals.HomeCurrency)
	}
	for i, cur := range c.Deals.Currencies {
		if !currencyCode.MatchString(cur) {
			add(fmt.Sprintf("deals.currencies[%d]", i), "use ISO 4217 codes such as USD, or [] for every currency", "%q is not a currency code", cur)
		}
	}
	if !c.Deals.WonStages.Auto && len(c.Deals.WonStages.Stages) == 0 {
		add("deals.won_stages", `use "auto" or list at least one {pipeline, stage}`, "no won stages")
	}
	for i, s := range c.Deals.WonStages.Stages {
		if s.Pipeline == "" || s.Stage == "" {
			add(fmt.Sprintf("deals.won_stages[%d]", i), "give both pipeline and stage ids (`clvsync properties --pipelines` lists them)", "pipeline and stage are required")
		}
	}
	switch c.Attribution {
	case AttributionAll, AttributionSplit, AttributionPrimary:
	default:
		add("attribution", "use all (every associated contact gets the full deal), split (shared evenly) or primary", "unknown attribution %q", c.Attribution)
	}
	if !slices.Contains(ModelTypes(), c.Model.Type) {
		add("model.type", modelFix(), "unknown model %q", c.Model.Type)
	}
	if c.Model.HorizonMonths < 1 || c.Model.HorizonMonths > 120 {
		add("model.horizon_months", "use 1 to 120 months (12 is usual)", "%d is out of range", c.Model.HorizonMonths)
	}
	if c.Model.AnnualDiscountRate < 0 || c.Model.AnnualDiscountRate >= 1 {
		add("model.annual_discount_rate", "use a yearly rate as a fraction, e.g. 0.10 for 10%", "%v is out of range [0, 1)", c.Model.AnnualDiscountRate)
	}
	if c.Model.Margin <= 0 || c.Model.Margin > 1 {
		add("model.margin", "use the gross margin as a fraction in (0, 1], e.g. 0.35; 1 means revenue", "%v is out of range", c.Model.Margin)
	}
	if d, err := c.Model.CostPerOrderAmount(); err != nil || d.IsNegative() {
		add("model.cost_per_order", "use a non-negative amount such as \"12.50\"", "%q is not a valid amount", c.Model.CostPerOrder)
	}
	switch c.Model.TimeUnit {
	case "day", "week", "month":
	default:
		add("model.time_unit", "use day, week (default) or month", "unknown time unit %q", c.Model.TimeUnit)
	}
	if c.Model.MinCustomers < 2 {
		add("model.min_customers", "use at least 2 (100 is a sensible floor for a stable fit)", "%d is too small", c.Model.MinCustomers)
	}
	if c.Model.MinRepeatBuyers < 1 {
		add("model.min_repeat_buyers", "use at least 1 (20 is a sensible floor)", "%d is too small", c.Model.MinRepeatBuyers)
	}
	if c.Model.SimplePeriodMonths < 1 {
		add("model.simple_period_months", "use a period in months, e.g. 36", "%d is too small", c.Model.SimplePeriodMonths)
	}
	ps = append(ps, c.validateSegments()...)
	if d, err := c.WriteBack.RoundingStepAmount(); err != nil || !d.IsPositive() {
		add("write_back.rounding_step", `use a positive amount: "1" for whole units, "0.01" for cents, "10" for tens`, "%q is not a positive amount", c.WriteBack.RoundingStep)
	}
	if c.WriteBack.MinChange < 0 || c.WriteBack.MinChange >= 1 {
		add("write_back.min_change", "use a share in [0, 1), e.g. 0.02 for 2%", "%v is out of range", c.WriteBack.MinChange)
	}
	if _, _, err := ParseMaxChanges(c.WriteBack.MaxChanges); err != nil {
		add("write_back.max_changes", `use a count such as "500", a share such as "10%", or leave it empty`, "%v", err)
	}
	if !(c.WriteBack.MaxFailedShare >= 0 && c.WriteBack.MaxFailedShare <= 1) {
		add("write_back.max_failed_share", "use a share in [0, 1], e.g. 0.1: a run with more failed writes than this is failed, otherwise partial", "%v is out of range", c.WriteBack.MaxFailedShare)
	}
	for _, b := range []struct {
		key string
		v   float64
	}{
		{"write_back.breaker.max_tier_moves", c.WriteBack.Breaker.MaxTierMoves},
		{"write_back.breaker.max_zeroed", c.WriteBack.Breaker.MaxZeroed},
		{"write_back.breaker.max_lost_customers", c.WriteBack.Breaker.MaxLostCustomers},
		{"write_back.breaker.max_halved", c.WriteBack.Breaker.MaxHalved},
	} {
		if !(b.v > 0 && b.v <= 1) {
			add(b.key, "use a share in (0, 1], e.g. 0.2 for 20%; turn the breaker off with write_back.breaker.enabled: false", "%v is out of range", b.v)
		}
	}
	if c.WriteBack.Breaker.MinContacts < 0 {
		add("write_back.breaker.min_contacts", "use a count >= 0, e.g. 20", "%d is negative", c.WriteBack.Breaker.MinContacts)
	}
	if c.Model.FitBudget <= 0 {
		add("model.fit_budget", "use a duration such as 1m", "must be positive")
	}
	if c.Model.Refit < 0 {
		add("model.refit", "use a duration such as 30d, or 0 to refit on every run", "must not be negative")
	}
	if c.WriteBack.BatchSize < 1 || c.WriteBack.BatchSize > 100 {
		add("write_back.batch_size", "HubSpot takes at most 100 records per batch update; use 1 to 100", "%d is out of range", c.WriteBack.BatchSize)
	}
	ps = append(ps, c.validateOutputs()...)
	if c.Reports.TargetCLVToCAC <= 0 {
		add("reports.target_clv_to_cac", "use a ratio such as 3 for 3:1", "must be > 0")
	}
	if c.Reports.NewCustomerDays < 1 {
		add("reports.new_customer_days", "use a number of days such as 365", "must be > 0")
	}
	switch c.Operations.LogFormat {
	case "auto", "text", "json":
	default:
		add("operations.log_format", "use auto, text or json", "unknown format %q", c.Operations.LogFormat)
	}
	switch c.Operations.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add("operations.log_level", "use debug, info, warn or error", "unknown level %q", c.Operations.LogLevel)
	}
	// A number that is not finite passes range checks written as
	// comparisons (NaN compares false): reject every one by its key.
	ps = append(nonFinite(reflect.ValueOf(c), ""), ps...)
	ps = append(ps, c.webhookProblems()...)
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// nonFinite reports every float in v (a config struct, walked by its YAML
// keys) that is NaN or infinite. YAML reads .nan and .inf as floats.
func nonFinite(v reflect.Value, key string) Problems {
	var ps Problems
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
			ps = append(ps, Problem{Key: key, Msg: fmt.Sprintf("%v is not a number", f), Fix: "write a finite decimal number such as 0.35"})
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				name = strings.ToLower(f.Name)
			}
			if key != "" {
				name = key + "." + name
			}
			ps = append(ps, nonFinite(v.Field(i), name)...)
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			ps = append(ps, nonFinite(v.Index(i), fmt.Sprintf("%s[%d]", key, i))...)
		}
	}
	return ps
}

func (c Config) validateSegments() Problems {
	var ps Problems
	add := func(key, fix, format string, args ...any) {
		ps = append(ps, Problem{Key: key, Msg: fmt.Sprintf(format, args...), Fix: fix})
	}
	t := c.Segments.Tiers
	switch t.Basis {
	case clv.TierBasisPredicted, clv.TierBasisTotal:
	default:
		add("segments.tiers.basis", "use predicted or total", "unknown basis %q", t.Basis)
	}
	if len(t.Names) < 2 {
		add("segments.tiers.names", "name at least two tiers, top first, e.g. [top, middle, bottom]", "%d name(s)", len(t.Names))
	}
	if len(t.Shares) != len(t.Names) {
		add("segments.tiers.shares", "give one share per tier name, top first", "%d shares for %d names", len(t.Shares), len(t.Names))
	}
	sum := 0.0
	for i, s := range t.Shares {
		if s <= 0 {
			add(fmt.Sprintf("segments.tiers.shares[%d]", i), "every share must be > 0", "%v", s)
		}
		sum += s
	}
	if len(t.Shares) > 0 && (sum < 0.999 || sum > 1.001) {
		add("segments.tiers.shares", "the shares must add up to 1 (100%), e.g. [0.2, 0.6, 0.2]", "they add up to %.4g", sum)
	}
	seen := map[string]bool{}
	for i, n := range t.Names {
		if !segmentValue.MatchString(n) {
			add(fmt.Sprintf("segments.tiers.names[%d]", i), "use letters, digits, spaces, - and _ (at most 100 characters)", "%q is not a usable option value", n)
		}
		if seen[n] {
			add(fmt.Sprintf("segments.tiers.names[%d]", i), "tier names must be unique", "%q repeats", n)
		}
		seen[n] = true
	}
	if t.Hysteresis < 0 || t.Hysteresis >= 0.5 {
		add("segments.tiers.hysteresis", "use a share of the ranking in [0, 0.5), e.g. 0.02", "%v is out of range", t.Hysteresis)
	}
	if t.MinDaysInTier < 0 {
		add("segments.tiers.min_days_in_tier", "use 0 (off) or a number of days", "must not be negative")
	}
	for i, r := range c.Segments.RFM.Rules {
		if !segmentValue.MatchString(r.Segment) {
			add(fmt.Sprintf("segments.rfm.rules[%d].segment", i), "name the segment with letters, digits, spaces, ' - and _", "%q is not a usable segment name", r.Segment)
		}
	}
	if err := c.Segments.RFM.Validate(); err != nil {
		add("segments.rfm", `each rule is {segment, r, f, m, fm} with score ranges such as "4-5"; together they must cover every score combination (end with a catch-all {segment: Other})`, "%v", err)
	}
	q := c.Segments.Quadrant
	if q.CLVThreshold != Median {
		if d, err := q.CLVThresholdAmount(); err != nil || d.IsNegative() {
			add("segments.quadrant.clv_threshold", `use "median" or an amount such as "1000"`, "%q is not valid", q.CLVThreshold)
		}
	}
	if q.TenureMonths != Median {
		if v, err := strconv.ParseFloat(q.TenureMonths, 64); err != nil || v <= 0 {
			add("segments.quadrant.tenure_months", `use "median" or a number of months such as "12"`, "%q is not valid", q.TenureMonths)
		}
	}
	ch := c.Segments.Churn
	if !(0 < ch.High && ch.High < ch.Medium && ch.Medium < 1) {
		add("segments.churn", "need 0 < high_below < medium_below < 1, e.g. 0.3 and 0.7", "high_below %v, medium_below %v", ch.High, ch.Medium)
	}
	if c.Segments.Trend.WindowDays < 1 {
		add("segments.trend.window_days", "use a number of days such as 90", "must be > 0")
	}
	if c.Segments.Trend.StableBand < 0 || c.Segments.Trend.StableBand >= 1 {
		add("segments.trend.stable_band", "use a share such as 0.05 for ±5%", "%v is out of range", c.Segments.Trend.StableBand)
	}
	return ps
}

var segmentValue = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 '_\-]{0,99}$`)

func (c Config) validateOutputs() Problems {
	var ps Problems
	if !propertyName.MatchString(c.Outputs.Group) {
		ps = append(ps, Problem{Key: "outputs.group", Msg: fmt.Sprintf("%q is not a group name", c.Outputs.Group), Fix: "use a lowercase name such as clv"})
	}
	known := map[OutputKey]bool{}
	names := make([]string, len(outputDefs))
	for i, d := range outputDefs {
		known[d.Key] = true
		names[i] = string(d.Key)
	}
	used := map[string]OutputKey{}
	for _, k := range slices.Sorted(maps.Keys(c.Outputs.Properties)) {
		v := c.Outputs.Properties[k]
		key := "outputs.properties." + string(k)
		if !known[k] {
			ps = append(ps, Problem{Key: key, Msg: "unknown output", Fix: "outputs are: " + strings.Join(names, ", ")})
			continue
		}
		if v == Off {
			continue
		}
		if !propertyName.MatchString(v) {
			ps = append(ps, Problem{Key: key, Msg: fmt.Sprintf("%q is not a HubSpot property name", v), Fix: `use lowercase letters, digits and _, or "off"`})
			continue
		}
		if other, dup := used[v]; dup {
			ps = append(ps, Problem{Key: key, Msg: fmt.Sprintf("property %q is also used by outputs.properties.%s", v, other), Fix: "give each output its own property"})
		}
		used[v] = k
	}
	return ps
}

// OutputKeys returns the output keys in their stable order.
func OutputKeys() []OutputKey {
	out := make([]OutputKey, len(outputDefs))
	for i, d := range outputDefs {
		out[i] = d.Key
	}
	return out
}

// Property returns the HubSpot property an output goes to, or "" when off.
func (c Config) Property(output OutputKey) string {
	v := c.Outputs.Properties[output]
	if v == Off {
		return ""
	}
	return v
}

// ParseMaxChanges reads "500" (a count) or "10%" (a share). Empty is no limit.
func ParseMaxChanges(s string) (count int, share float64, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, 0, nil
	}
	if strings.HasSuffix(s, "%") {
		v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
		if err != nil || v <= 0 || v > 100 {
			return 0, 0, fmt.Errorf("%q is not a share between 0%% and 100%%", s)
		}
		return 0, v / 100, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, 0, fmt.Errorf("%q is not a positive count", s)
	}
	return n, 0, nil
}

// ParseMoney reads a money amount from the config: a plain decimal such as
// "12.50" (surrounding spaces are ignored). It is the only money parser of
// the config, used by Validate and by the run alike; NaN, Inf, hexadecimal
// floats (0x1p-2) and digit separators (1_000) are rejected.
func ParseMoney(s string) (decimal.Decimal, error) {
	d, err := decimal.NewFromString(strings.TrimSpace(s))
	if err != nil {
		return decimal.Zero, fmt.Errorf("%q is not a decimal amount", s)
	}
	return d, nil
}

// money parses the money value of the config key key.
func money(key, s string) (decimal.Decimal, error) {
	d, err := ParseMoney(s)
	if err != nil {
		return d, fmt.Errorf("%s: %w", key, err)
	}
	return d, nil
}

// CostPerOrderAmount returns model.cost_per_order as an amount.
func (m ModelConfig) CostPerOrderAmount() (decimal.Decimal, error) {
	return money("model.cost_per_order", m.CostPerOrder)
}

// RoundingStepAmount returns write_back.rounding_step as an amount.
func (w WriteBackConfig) RoundingStepAmount() (decimal.Decimal, error) {
	return money("write_back.rounding_step", w.RoundingStep)
}

// CLVThresholdAmount returns segments.quadrant.clv_threshold as an amount;
// nil when it is "median".
func (q QuadrantConfig) CLVThresholdAmount() (*decimal.Decimal, error) {
	if q.CLVThreshold == Median {
		return nil, nil
	}
	d, err := money("segments.quadrant.clv_threshold", q.CLVThreshold)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// Median is the quadrant threshold value that splits at the median.
const Median = "median"

// InputHash fingerprints the settings that change what is stored from
// HubSpot. When it differs from the stored one, the next run is a full
// resync.
func (c Config) InputHash() string {
	h := sha256.New()
	fmt.Fprintf(h, "amount=%s|currency=%s|close=%s|source=%s|companies=%v|base=%s",
		c.Deals.AmountProperty, c.Deals.CurrencyProperty, c.Deals.CloseDateProperty,
		c.Deals.SourceProperty, c.Companies, c.HubSpot.BaseURL)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// ModelHash fingerprints the settings a model fit depends on: what counts
// as an order, for whom, and how the model is fitted. When it differs from
// the stored model's, the next run refits. Margin, cost, horizon and
// discount change predictions, not the fit.
func (c Config) ModelHash() string {
	h := sha256.New()
	fmt.Fprintf(h, "input=%s|type=%s|unit=%s|minc=%d|minr=%d|won=%v|pipelines=%v|currencies=%v|attribution=%s|simple=%d",
		c.InputHash(), c.Model.Type, c.Model.TimeUnit, c.Model.MinCustomers, c.Model.MinRepeatBuyers,
		c.Deals.WonStages, c.Deals.Pipelines, c.Deals.Currencies, c.Attribution, c.Model.SimplePeriodMonths)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// ResolvePaths makes the file paths in the config that are relative
// (state.path, hubspot.token_file) relative to dir, the config file's
// folder, so a run started from another working directory uses the same
// files.
func (c *Config) ResolvePaths(dir string) {
	for _, p := range []*string{&c.State.Path, &c.HubSpot.TokenFile, &c.Webhooks.ClientSecretFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

// Token returns the HubSpot token from HUBSPOT_TOKEN, or else from
// hubspot.token_file. getenv is os.Getenv in production.
func (c Config) Token(getenv func(string) string) (string, error) {
	if t := strings.TrimSpace(getenv("HUBSPOT_TOKEN")); t != "" {
		return t, nil
	}
	if c.HubSpot.TokenFile != "" {
		b, err := os.ReadFile(c.HubSpot.TokenFile)
		if err != nil {
			return "", fmt.Errorf("hubspot.token_file: %w", err)
		}
		if t := strings.TrimSpace(string(b)); t != "" {
			return t, nil
		}
		return "", fmt.Errorf("hubspot.token_file %s is empty", c.HubSpot.TokenFile)
	}
	return "", errors.New("no HubSpot token: set HUBSPOT_TOKEN (a private app or service key token) or hubspot.token_file")
}
