package config

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/clvsync/clvsync/hubspot"
)

// keyComments explains every config key, by dotted YAML path. StarterYAML
// writes them above each key; TestStarterYAML_EveryKeyCommented makes sure
// no key is left without one. Output mappings (outputs.properties.*) are
// commented from their OutputDef labels instead.
var keyComments = map[string]string{
	"hubspot": "HubSpot connection. The token is never written here: clvsync reads it from the\n" +
		"HUBSPOT_TOKEN environment variable, or from the file named by an optional\n" +
		"  token_file: /run/secrets/hubspot-token",
	"hubspot.api_version":      `API path family: "` + hubspot.Version202609 + `" (date-based, recommended) or "` + hubspot.VersionV3 + `" (legacy paths, unsupported from September 2027).`,
	"hubspot.tier":             "Your HubSpot subscription, which sizes the rate limits: free, starter, professional, enterprise or api-pack.",
	"hubspot.rate_limit_share": "Share of the ten-second rate limit clvsync may use, in (0, 1]. 0.8 leaves 20% to other integrations of the same app.",
	"hubspot.base_url":         "API host. Keep https://api.hubapi.com; use http://127.0.0.1:PORT for `clvsync fakehub`.",

	"state":                   "The local state file (bbolt): deals, computed values and what was written to HubSpot.",
	"state.path":              "Path of the state file. One clvsync process per file: a second one waits, then exits with code 3.",
	"state.history_retention": "CLV history points kept per contact (for trends); at least 2.",
	"state.run_retention":     "Run log entries kept (see `clvsync runs`).",

	"schedule":                     "When `clvsync serve` runs. `clvsync run` ignores the schedule and runs once.",
	"schedule.cron":                `Incremental runs: a 5-field cron expression ("0 */6 * * *"), "@every 6h", "@daily" ...`,
	"schedule.full_resync":         `Optional second schedule for a full resync (e.g. "@weekly"); empty = only when needed.`,
	"schedule.timezone":            `Time zone the cron expressions are read in (IANA name, e.g. "UTC", "Europe/Berlin").`,
	"schedule.run_timeout":         "A run is cancelled after this long (Go duration: 30m, 1h, 2h30m).",
	"schedule.grace_period":        "On shutdown, how long an in-flight run may take to finish before it is interrupted.",
	"schedule.incremental_overlap": "Incremental runs re-read changes from this long before the last cursor, to catch late search indexing.",

	"deals":                     "Which deals count as purchases, and how their value is read.",
	"deals.amount_property":     "Deal property holding the amount. amount_in_home_currency (HubSpot's \"Amount in company currency\") converts every deal to the home currency; use amount only for single-currency portals.",
	"deals.currency_property":   "Deal property holding the deal's currency code (HubSpot: deal_currency_code).",
	"deals.close_date_property": "Deal property holding the purchase date (HubSpot: closedate).",
	"deals.won_stages": "Stages that count as a purchase: auto (every stage HubSpot marks closed-won: closed,\n" +
		"probability 100%) or a list of {pipeline: <pipeline id>, stage: <stage id>}.\n" +
		"`clvsync properties --pipelines` lists the ids.",
	"deals.pipelines":       "Only count deals in these pipeline ids; [] counts every pipeline.",
	"deals.currencies":      "Only count deals in these currencies (e.g. [USD, EUR]); [] accepts every currency.",
	"deals.home_currency":   "The portal's company currency (Settings > Account defaults > Currency), used in reports.",
	"deals.source_property": "Contact property naming the acquisition source (HubSpot: hs_analytics_source), kept per customer.",

	"attribution": "How a won deal is credited to its contacts: all (each associated contact gets the full amount),\n" +
		"split (the amount is shared evenly) or primary (only the primary contact).",
	"companies": "Also compute company-level values (sum over the company's contacts). true or false.",

	"model":                      "The CLV model.",
	"model.type":                 "auto (default): at each refit BG/NBD, MBG/NBD and Pareto/NBD are scored on a holdout of your own history and the winner predicts; or one of bgnbd, mbgnbd, paretonbd, subscription, simple (the average-purchase formula).",
	"model.horizon_months":       "Predicted CLV covers this many months ahead (1 to 120).",
	"model.annual_discount_rate": "Yearly discount rate for future revenue, as a fraction: 0.10 = 10%.",
	"model.margin":               "Gross margin as a fraction in (0, 1]: 1 means CLV is revenue, 0.35 means 35% of revenue is profit.",
	"model.cost_per_order":       `Cost to serve one order, subtracted from each order's profit (money, e.g. "12.50").`,
	"model.time_unit":            "Time unit the model is fitted in: day, week (default) or month.",
	"model.min_customers":        "Below this many customers the model falls back to the simple formula.",
	"model.min_repeat_buyers":    "Below this many customers with a repeat purchase the model falls back to the simple formula.",
	"model.simple_period_months": "Period of the simple formula (average order value x purchases per period x margin).",
	"model.fit_budget":           "With type auto: the most time one model's fit may take in the tournament (1m); a slower model is left out and the scorecard says so.",
	"model.refit":                "How often the model is fitted again (30d). Between refits runs predict with the stored fit, so values move only when a customer's orders change or time passes. `clvsync run --refit` refits now; 0 refits every run.",

	"segments":                        "Segments written to contacts as dropdown (enumeration) properties, for workflow triggers.",
	"segments.tiers":                  "Tiers by CLV rank.",
	"segments.tiers.basis":            "Rank customers by predicted or total (historical + predicted) CLV.",
	"segments.tiers.names":            "Tier names, top first. Each name becomes an option of clv_tier.",
	"segments.tiers.shares":           "Share of customers in each tier, top first; one per name, adding up to 1 (100%).",
	"segments.tiers.hysteresis":       "A contact must cross a tier boundary by this share of the ranking before it moves (stops flapping).",
	"segments.tiers.min_days_in_tier": "A contact stays in a tier at least this many days before moving again; 0 = off.",
	"segments.rfm": "RFM (recency, frequency, monetary) scores 1-5 and the segment map. Rules are tried in order;\n" +
		"r, f, m and fm (average of f and m) are inclusive ranges such as \"4-5\"; an empty range matches anything.\n" +
		"Together the rules must cover every score combination.",
	"segments.rfm.monetary":           "Monetary score from total revenue (total) or revenue per order (average).",
	"segments.rfm.rules":              "The segment map; each segment name becomes an option of clv_rfm_segment.",
	"segments.quadrant":               "Four cells from CLV (high/low) and relationship length (long/short).",
	"segments.quadrant.clv_threshold": `CLV above this is "high": "median" or an amount such as "1000".`,
	"segments.quadrant.tenure_months": `Relationships longer than this many months are "long": "median" or a number such as "12".`,
	"segments.quadrant.high_long":     "Name of the high CLV, long relationship cell.",
	"segments.quadrant.high_short":    "Name of the high CLV, short relationship cell.",
	"segments.quadrant.low_long":      "Name of the low CLV, long relationship cell.",
	"segments.quadrant.low_short":     "Name of the low CLV, short relationship cell.",
	"segments.churn":                  "Churn risk from the model's probability that the customer is still active (P(alive)).",
	"segments.churn.high_below":       "P(alive) below this is high risk.",
	"segments.churn.medium_below":     "P(alive) below this (and not high) is medium risk; above it, low.",
	"segments.trend":                  "CLV trend: rising, stable, falling (or new) compared with an earlier run.",
	"segments.trend.window_days":      "Compare with the value from this many days ago.",
	"segments.trend.stable_band":      "A relative change within this band is stable: 0.05 = +/-5%.",

	"write_back":                            "How values are written to HubSpot. Unchanged values are never rewritten.",
	"write_back.rounding_step":              `Money is written rounded to this step: "1" = whole units, "0.01" = cents, "10" = tens.`,
	"write_back.min_change":                 "A money value moving by less than this share (0.02 = 2%) is not rewritten, so workflows do not fire on noise.",
	"write_back.max_changes":                `Abort a run that would change more contacts than "500" (a count) or "10%" (a share); "" = no limit.`,
	"write_back.batch_size":                 "Contacts per batch update request (1 to 100).",
	"write_back.max_failed_share":           "A run in which HubSpot refuses more than this share of the writes is failed; fewer make it partial (exit codes in docs/operations.md).",
	"write_back.breaker":                    "Circuit breaker: a run that would change much more than customers' behaviour explains writes nothing and stops (exit 7) until `clvsync run --accept-changes`.",
	"write_back.breaker.enabled":            "true keeps it on (recommended).",
	"write_back.breaker.max_tier_moves":     "Trip when more than this share of tiered contacts would change tier.",
	"write_back.breaker.max_zeroed":         "Trip when more than this share of non-zero CLV values would become 0 or blank.",
	"write_back.breaker.max_lost_customers": "Trip when more than this share of customers with orders would have none.",
	"write_back.breaker.max_halved":         "Trip when more than this share of contacts with a CLV would see it fall by half or more.",
	"write_back.breaker.min_contacts":       "A rule trips only when more contacts than this are concerned.",

	"outputs": "Where each output goes: a HubSpot contact property name, or off to skip it.\n" +
		"`clvsync setup` creates the group and every property that is not off.",
	"outputs.group":       "Internal name of the contact property group holding the outputs.",
	"outputs.group_label": "Label of that group in HubSpot.",
	"outputs.properties":  "One line per output: <output>: <contact property> | off.",

	"reports":                   "`clvsync report` settings.",
	"reports.source_property":   "Contact property the report groups customers by (acquisition source).",
	"reports.target_clv_to_cac": "Target CLV:CAC ratio the report compares against (3 = 3:1).",
	"reports.new_customer_days": "Customers whose first purchase is within this many days count as new.",

	"operations":                        "`clvsync serve`: HTTP endpoint and logs.",
	"operations.listen":                 `Address for /healthz, /readyz and /metrics; "" or off disables it.`,
	"operations.log_format":             "auto (text on a terminal, JSON otherwise), text or json.",
	"operations.log_level":              "debug, info, warn or error.",
	"operations.unready_after_failures": "/readyz fails after this many failed runs in a row.",
}

// StarterYAML renders cfg as a commented YAML file: every key with a comment
// saying what it does. notes, when given, go into the header (for example
// what `clvsync init` read from the portal). ParseConfig reads the result
// back to cfg.
func StarterYAML(cfg Config, notes []string) ([]byte, error) {
	var doc yaml.Node
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, errors.New("render config: unexpected YAML document")
	}
	root := doc.Content[0]
	labels := map[string]string{}
	for _, d := range outputDefs {
		labels["outputs.properties."+string(d.Key)] = d.Label + defKindNote(d.Kind)
	}
	decorate(root, "", labels)
	header := []string{
		"clvsync configuration. Every key is optional: a key left out takes the default shown here.",
		"Check it with `clvsync validate`; create the HubSpot properties with `clvsync setup`.",
		"The admin's guide (docs/admin.md) explains every key and has workflow recipes.",
	}
	if len(notes) > 0 {
		header = append(header, "", "Pre-filled from the portal by `clvsync init`:")
		for _, n := range notes {
			header = append(header, "  - "+n)
		}
	}
	doc.HeadComment = strings.Join(header, "\n")
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("render config: %w", err)
	}
	return spaceSections(out.Bytes()), nil
}

// spaceSections puts a blank line before each top-level section's comment,
// for readability.
func spaceSections(b []byte) []byte {
	lines := strings.Split(string(b), "\n")
	out := make([]string, 0, len(lines)+16)
	for i, l := range lines {
		if i > 0 && strings.HasPrefix(l, "# ") {
			if prev := lines[i-1]; prev != "" && !strings.HasPrefix(prev, "#") {
				out = append(out, "")
			}
		}
		out = append(out, l)
	}
	return []byte(strings.Join(out, "\n"))
}

func defKindNote(k OutputKind) string {
	switch k {
	case KindMoney:
		return " (number, money)"
	case KindNumber:
		return " (number)"
	case KindDate:
		return " (date)"
	case KindDateTime:
		return " (date and time)"
	case KindSegment:
		return " (dropdown)"
	}
	return " (text)"
}

// decorate attaches comments to mapping keys, orders the output mappings
// like outputDefs and writes durations in their short form.
func decorate(n *yaml.Node, path string, extra map[string]string) {
	switch n.Kind {
	case yaml.MappingNode:
		if path == "outputs.properties" {
			sortOutputs(n)
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := k.Value
			if path != "" {
				p = path + "." + k.Value
			}
			if c, ok := keyComments[p]; ok {
				k.HeadComment = c
			} else if c, ok := extra[p]; ok {
				k.LineComment = c
			}
			if v.Kind == yaml.ScalarNode && v.Tag == "!!str" {
				v.Value = shortDuration(v.Value)
			}
			decorate(v, p, extra)
		}
	case yaml.SequenceNode:
		if path == "segments.rfm.rules" || path == "deals.won_stages" {
			for _, item := range n.Content {
				item.Style = yaml.FlowStyle
			}
		}
		if isScalarList(n) {
			n.Style = yaml.FlowStyle
		}
	}
}

func isScalarList(n *yaml.Node) bool {
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode {
			return false
		}
	}
	return true
}

// shortDuration turns Go's "1h0m0s" into "1h"; other strings pass through.
func shortDuration(s string) string {
	if d, err := time.ParseDuration(s); err != nil || d.String() != s {
		return s
	}
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func sortOutputs(n *yaml.Node) {
	order := map[string]int{}
	for i, d := range outputDefs {
		order[string(d.Key)] = i
	}
	type pair struct{ k, v *yaml.Node }
	pairs := make([]pair, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		pairs = append(pairs, pair{n.Content[i], n.Content[i+1]})
	}
	rank := func(k string) int {
		if r, ok := order[k]; ok {
			return r
		}
		return len(order)
	}
	sort.SliceStable(pairs, func(i, j int) bool { return rank(pairs[i].k.Value) < rank(pairs[j].k.Value) })
	n.Content = n.Content[:0]
	for _, p := range pairs {
		n.Content = append(n.Content, p.k, p.v)
	}
}

// StarterConfig returns the configuration `clvsync init` writes without a
// portal: DefaultConfig with the quadrant names spelled out, so an admin
// sees what they can rename.
func StarterConfig() Config {
	cfg := DefaultConfig()
	q := cfg.QuadrantNames()
	cfg.Segments.Quadrant.HighLong, cfg.Segments.Quadrant.HighShort = q[0], q[1]
	cfg.Segments.Quadrant.LowLong, cfg.Segments.Quadrant.LowShort = q[2], q[3]
	return cfg
}

// PortalFacts is what `clvsync init` learns from a portal to pre-fill the
// deal mapping.
type PortalFacts struct {
	// WonStages are the stages HubSpot marks closed-won (isClosed and
	// probability 1.0), per pipeline.
	WonStages []StageRef
	// StageLabels names each won stage as "Pipeline label / Stage label".
	StageLabels map[StageRef]string
	// AmountProperty is amount_in_home_currency when the portal has it,
	// else amount.
	AmountProperty string
	// HasCurrencyProperty says whether deal_currency_code exists.
	HasCurrencyProperty bool
	// Currencies are the currencies in use: deal_currency_code options and
	// the values seen in a sample of deals, upper case and sorted.
	Currencies []string
	// HomeCurrency is the account's company currency ("" when unknown).
	HomeCurrency string
	// PortalID is the account id (0 when unknown).
	PortalID int64
}

// dealSampleSize is how many deals InspectPortal reads to see which
// currencies are in use: one page, one request.
const dealSampleSize = 100

// InspectPortal reads deal pipelines, deal properties, a sample of deals and
// the account details. An error from HubSpot (a rejected token, a missing
// scope) is returned wrapped, so errors.Is(err, hubspot.ErrUnauthorized)
// and friends work.
func InspectPortal(ctx context.Context, client *hubspot.Client) (PortalFacts, error) {
	f := PortalFacts{StageLabels: map[StageRef]string{}}
	pipes, err := client.Pipelines.List(ctx, "deals")
	if err != nil {
		return f, err
	}
	for _, p := range pipes {
		if p.Archived {
			continue
		}
		for _, s := range p.Stages {
			if s.Archived || !s.IsClosed || s.Probability < 1 {
				continue
			}
			ref := StageRef{Pipeline: p.ID, Stage: s.ID}
			f.WonStages = append(f.WonStages, ref)
			f.StageLabels[ref] = p.Label + " / " + s.Label
		}
	}
	props, err := client.Properties.List(ctx, "deals", false)
	if err != nil {
		return f, err
	}
	currencies := map[string]bool{}
	f.AmountProperty = "amount"
	for _, p := range props {
		switch p.Name {
		case "amount_in_home_currency":
			f.AmountProperty = p.Name
		case "deal_currency_code":
			f.HasCurrencyProperty = true
			for _, o := range p.Options {
				if !o.Hidden && o.Value != "" {
					currencies[strings.ToUpper(o.Value)] = true
				}
			}
		}
	}
	if f.HasCurrencyProperty {
		page, err := client.Deals.List(ctx, hubspot.ListOptions{Limit: dealSampleSize, Properties: []string{"deal_currency_code"}})
		if err != nil {
			return f, err
		}
		for _, d := range page.Results {
			if c := strings.ToUpper(strings.TrimSpace(d.Properties["deal_currency_code"])); c != "" {
				currencies[c] = true
			}
		}
	}
	acct, err := client.Account.Details(ctx)
	if err != nil {
		return f, err
	}
	f.HomeCurrency = strings.ToUpper(acct.CompanyCurrency)
	f.PortalID = acct.PortalID
	if f.HomeCurrency != "" {
		currencies[f.HomeCurrency] = true
	}
	for c := range currencies {
		f.Currencies = append(f.Currencies, c)
	}
	sort.Strings(f.Currencies)
	return f, nil
}

// Apply writes the facts into cfg's deal mapping and returns one note per
// choice, for the starter file's header.
func (f PortalFacts) Apply(cfg *Config) []string {
	var notes []string
	if f.PortalID != 0 {
		notes = append(notes, fmt.Sprintf("portal %d", f.PortalID))
	}
	cfg.Deals.AmountProperty = f.AmountProperty
	if f.AmountProperty == "amount_in_home_currency" {
		notes = append(notes, "deals.amount_property: amount_in_home_currency (converts every deal to the company currency)")
	} else {
		notes = append(notes, "deals.amount_property: amount (the portal has no amount_in_home_currency)")
	}
	if !f.HasCurrencyProperty {
		notes = append(notes, "deals.currency_property: the portal has no deal_currency_code; single-currency portal assumed")
	}
	if f.HomeCurrency != "" {
		cfg.Deals.HomeCurrency = f.HomeCurrency
		notes = append(notes, "deals.home_currency: "+f.HomeCurrency+" (the account's company currency)")
	}
	if len(f.Currencies) > 0 {
		// Listing every currency seen keeps the mapping explicit; an admin
		// removes one to stop counting its deals.
		cfg.Deals.Currencies = slices.Clone(f.Currencies)
		notes = append(notes, "deals.currencies: "+strings.Join(f.Currencies, ", ")+" (currencies in use)")
	}
	if len(f.WonStages) > 0 {
		cfg.Deals.WonStages = WonStages{Stages: slices.Clone(f.WonStages)}
		labels := make([]string, len(f.WonStages))
		for i, s := range f.WonStages {
			labels[i] = fmt.Sprintf("%s (%s/%s)", f.StageLabels[s], s.Pipeline, s.Stage)
		}
		notes = append(notes, "deals.won_stages: "+strings.Join(labels, "; ")+" (closed-won stages)")
	} else {
		cfg.Deals.WonStages = WonStages{Auto: true}
		notes = append(notes, "deals.won_stages: auto (no pipeline has a closed-won stage yet)")
	}
	return notes
}
