package config

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/clvsync/clvsync/hubspot"
)

// LiveReport is the result of checking a configuration against a portal.
type LiveReport struct {
	// Problems are what must be fixed before clvsync can run, each naming
	// the key, what is wrong and how to fix it.
	Problems Problems
	// Notes are things that are fine but worth knowing: properties `setup`
	// will create, scopes that cannot be checked without writing.
	Notes []string
	// PortalID is the account checked (0 when the token was rejected).
	PortalID int64
}

// Scopes clvsync needs. The read scopes are probed by ValidatePortal; the
// write scopes cannot be checked without writing.
const (
	ScopeContactsRead  = "crm.objects.contacts.read"
	ScopeContactsWrite = "crm.objects.contacts.write"
	ScopeDealsRead     = "crm.objects.deals.read"
	ScopeCompaniesRead = "crm.objects.companies.read"
	ScopeSchemasWrite  = "crm.schemas.contacts.write"
	// With companies: true, company values are written to company
	// properties clvsync creates.
	ScopeCompaniesWrite      = "crm.objects.companies.write"
	ScopeCompanySchemasWrite = "crm.schemas.companies.write"
)

// tokenKey is the Problem key for token and scope problems.
const tokenKey = "HUBSPOT_TOKEN"

// scopeFix says where scopes are granted.
const scopeFix = "add the scope to the private app or service key (HubSpot: Settings > Integrations > Private apps " +
	"or Development > Keys > Service keys > Scopes); a private app's token keeps working after you add scopes"

// ValidatePortal checks cfg against the portal client talks to: the token
// and its read scopes, the mapped deal and contact input properties and
// their types, the pipelines and won stages, the currencies, and the output
// properties (existing ones must have the type clvsync writes). It only
// reads. Problems found are returned in the report; the error is for
// failures that stop the check (network, HubSpot errors other than 401 and
// 403 MISSING_SCOPES).
func ValidatePortal(ctx context.Context, cfg Config, client *hubspot.Client) (LiveReport, error) {
	var rep LiveReport

	acct, err := client.Account.Details(ctx)
	switch {
	case errors.Is(err, hubspot.ErrUnauthorized):
		rep.add(tokenKey, "create a private app or service key in the portal and export its token as HUBSPOT_TOKEN (or put it in hubspot.token_file); check hubspot.base_url too",
			"HubSpot rejected the token (401), so nothing else could be checked")
		return rep, nil
	case err != nil && !errors.Is(err, hubspot.ErrMissingScopes):
		return rep, fmt.Errorf("reach HubSpot at %s: %w", cfg.HubSpot.BaseURL, err)
	case acct != nil:
		rep.PortalID = acct.PortalID
	}

	// Probe the reads a run makes. A missing scope skips the checks that
	// need its data, and is reported once, by name.
	missing := map[string]string{} // scope -> what needs it
	probe := func(scope, what string, fn func() error) bool {
		err := fn()
		if err == nil {
			return true
		}
		if errors.Is(err, hubspot.ErrMissingScopes) {
			scopes := []string{scope}
			var apiErr *hubspot.APIError
			if errors.As(err, &apiErr) && len(apiErr.RequiredScopes()) > 0 {
				scopes = apiErr.RequiredScopes()
			}
			for _, s := range scopes {
				if _, seen := missing[s]; !seen {
					missing[s] = what
				}
			}
			return false
		}
		rep.Problems = append(rep.Problems, Problem{Key: tokenKey, Msg: fmt.Sprintf("%s: %v", what, err)})
		return false
	}
	var (
		dealProps, contactProps []hubspot.Property
		groups                  []hubspot.PropertyGroup
		pipes                   []hubspot.Pipeline
	)
	probe(ScopeDealsRead, "read deals", func() error {
		_, err := client.Deals.List(ctx, hubspot.ListOptions{Limit: 1})
		return err
	})
	probe(ScopeContactsRead, "read contacts", func() error {
		_, err := client.Contacts.List(ctx, hubspot.ListOptions{Limit: 1})
		return err
	})
	if cfg.Companies {
		probe(ScopeCompaniesRead, "read companies (companies: true)", func() error {
			_, err := client.Companies.List(ctx, hubspot.ListOptions{Limit: 1})
			return err
		})
	}
	haveDealProps := probe(ScopeDealsRead, "read deal properties", func() (err error) {
		dealProps, err = client.Properties.List(ctx, "deals", false)
		return err
	})
	haveContactProps := probe(ScopeContactsRead, "read contact properties", func() (err error) {
		contactProps, err = client.Properties.List(ctx, "contacts", false)
		return err
	})
	haveGroups := probe(ScopeContactsRead, "read contact property groups", func() (err error) {
		groups, err = client.Properties.ListGroups(ctx, "contacts")
		return err
	})
	havePipes := probe(ScopeDealsRead, "read deal pipelines", func() (err error) {
		pipes, err = client.Pipelines.List(ctx, "deals")
		return err
	})
	if err := ctx.Err(); err != nil {
		return rep, err
	}
	scopes := make([]string, 0, len(missing))
	for s := range missing {
		scopes = append(scopes, s)
	}
	sort.Strings(scopes)
	for _, s := range scopes {
		rep.add(tokenKey, scopeFix, "MISSING_SCOPES: the token lacks %s (needed to %s)", s, missing[s])
	}
	rep.Notes = append(rep.Notes, fmt.Sprintf("write scopes %s (to write values) and %s (to create properties) cannot be checked without writing: "+
		"`clvsync setup` checks the second, the first `clvsync run` the first", ScopeContactsWrite, ScopeSchemasWrite))
	if cfg.Companies {
		rep.Notes = append(rep.Notes, fmt.Sprintf("companies: true writes company values too: the token needs %s and %s as well",
			ScopeCompaniesWrite, ScopeCompanySchemasWrite))
	}

	p := Portal{Account: acct}
	if haveDealProps {
		p.DealProps = nonNil(dealProps)
	}
	if haveContactProps {
		p.ContactProps = nonNil(contactProps)
	}
	if haveGroups {
		p.Groups = nonNil(groups)
	}
	if havePipes {
		p.Pipelines = nonNil(pipes)
	}
	rep.check(cfg, p)
	return rep, nil
}

// Portal is what a mapping is checked against: the account, the deal and
// contact properties, the contact property groups and the deal pipelines.
// A nil slice was not read (a missing scope), and its checks are skipped.
type Portal struct {
	Account                 *hubspot.AccountDetails
	DealProps, ContactProps []hubspot.Property
	Groups                  []hubspot.PropertyGroup
	Pipelines               []hubspot.Pipeline
}

// CheckPortal checks cfg against the portal p: the live checks `validate`
// makes and every run repeats before it writes. Problems keyed
// "outputs.properties.<output>" concern outputs (see OutputProblem); the
// others concern the inputs a run reads.
func CheckPortal(cfg Config, p Portal) LiveReport {
	var rep LiveReport
	if p.Account != nil {
		rep.PortalID = p.Account.PortalID
	}
	rep.check(cfg, p)
	return rep
}

// OutputProblem returns the output a problem from CheckPortal concerns; ok
// is false for problems with the inputs.
func OutputProblem(p Problem) (key OutputKey, ok bool) {
	k, ok := strings.CutPrefix(p.Key, outputProblemPrefix)
	return OutputKey(k), ok
}

const outputProblemPrefix = "outputs.properties."

func (rep *LiveReport) check(cfg Config, p Portal) {
	if p.DealProps != nil {
		rep.checkDealInputs(cfg, byName(p.DealProps), p.Account)
	}
	if p.ContactProps != nil {
		rep.checkContactInputs(cfg, byName(p.ContactProps))
	}
	if p.Pipelines != nil {
		rep.checkPipelines(cfg, p.Pipelines)
	}
	if p.ContactProps != nil && p.Groups != nil {
		rep.checkOutputs(cfg, byName(p.ContactProps), p.Groups)
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func byName(props []hubspot.Property) map[string]hubspot.Property {
	m := make(map[string]hubspot.Property, len(props))
	for _, p := range props {
		m[p.Name] = p
	}
	return m
}

// candidates lists the names of properties of the given types, for fixes.
func candidates(props map[string]hubspot.Property, match func(hubspot.Property) bool, limit int) string {
	var names []string
	for _, p := range props {
		if match(p) {
			names = append(names, p.Name)
		}
	}
	sort.Strings(names)
	if len(names) > limit {
		names = append(names[:limit], "...")
	}
	if len(names) == 0 {
		return ""
	}
	return " (candidates: " + strings.Join(names, ", ") + ")"
}

func (rep *LiveReport) add(key, fix, format string, args ...any) {
	rep.Problems = append(rep.Problems, Problem{Key: key, Msg: fmt.Sprintf(format, args...), Fix: fix})
}

func (rep *LiveReport) checkDealInputs(cfg Config, props map[string]hubspot.Property, acct *hubspot.AccountDetails) {
	isNumber := func(p hubspot.Property) bool { return p.Type == "number" && strings.Contains(p.Name, "amount") }
	isDate := func(p hubspot.Property) bool {
		return (p.Type == "date" || p.Type == "datetime") && strings.Contains(p.Name, "date")
	}
	d := cfg.Deals
	if p, ok := props[d.AmountProperty]; !ok {
		rep.add("deals.amount_property", "name an existing number property of deals; `clvsync properties --object deals` lists them"+candidates(props, isNumber, 6),
			"the portal has no deal property %q", d.AmountProperty)
	} else if p.Type != "number" {
		rep.add("deals.amount_property", "use a number property"+candidates(props, isNumber, 6),
			"deal property %q has type %s, not number", d.AmountProperty, p.Type)
	}
	if p, ok := props[d.CloseDateProperty]; !ok {
		rep.add("deals.close_date_property", "name an existing date property of deals, usually closedate"+candidates(props, isDate, 6),
			"the portal has no deal property %q", d.CloseDateProperty)
	} else if p.Type != "date" && p.Type != "datetime" {
		rep.add("deals.close_date_property", "use a date or datetime property"+candidates(props, isDate, 6),
			"deal property %q has type %s, not date or datetime", d.CloseDateProperty, p.Type)
	}
	var known []string // currencies the portal knows
	if d.CurrencyProperty != "" {
		if p, ok := props[d.CurrencyProperty]; !ok {
			rep.add("deals.currency_property", `use deal_currency_code, or "" for a single-currency portal`,
				"the portal has no deal property %q", d.CurrencyProperty)
		} else {
			for _, o := range p.Options {
				known = append(known, strings.ToUpper(o.Value))
			}
		}
	}
	if acct != nil {
		if acct.CompanyCurrency != "" {
			known = append(known, strings.ToUpper(acct.CompanyCurrency))
		}
		for _, c := range acct.AdditionalCurrencies {
			known = append(known, strings.ToUpper(c))
		}
		if acct.CompanyCurrency != "" && !strings.EqualFold(acct.CompanyCurrency, d.HomeCurrency) {
			rep.add("deals.home_currency", fmt.Sprintf("set it to %s, the account's company currency (amount_in_home_currency is in that currency)", strings.ToUpper(acct.CompanyCurrency)),
				"%q differs from the portal's company currency %s", d.HomeCurrency, acct.CompanyCurrency)
		}
	}
	if len(known) > 0 {
		slices.Sort(known)
		known = slices.Compact(known)
		for i, c := range d.Currencies {
			if !slices.Contains(known, strings.ToUpper(c)) {
				rep.add(fmt.Sprintf("deals.currencies[%d]", i), "use currencies the portal has: "+strings.Join(known, ", ")+", or [] for all",
					"the portal does not use currency %q", c)
			}
		}
	}
}

func (rep *LiveReport) checkContactInputs(cfg Config, props map[string]hubspot.Property) {
	for _, in := range []struct{ key, name string }{
		{"deals.source_property", cfg.Deals.SourceProperty},
		{"reports.source_property", cfg.Reports.SourceProperty},
	} {
		if in.name == "" {
			continue
		}
		if _, ok := props[in.name]; !ok {
			rep.add(in.key, "name an existing contact property (usually hs_analytics_source); `clvsync properties --object contacts` lists them",
				"the portal has no contact property %q", in.name)
		}
	}
}

func (rep *LiveReport) checkPipelines(cfg Config, pipes []hubspot.Pipeline) {
	byID := map[string]hubspot.Pipeline{}
	var ids []string
	for _, p := range pipes {
		byID[p.ID] = p
		ids = append(ids, fmt.Sprintf("%s (%s)", p.ID, p.Label))
	}
	listFix := "use a pipeline id: " + strings.Join(ids, ", ") + "; `clvsync properties --pipelines` lists stages too"
	for i, id := range cfg.Deals.Pipelines {
		if _, ok := byID[id]; !ok {
			rep.add(fmt.Sprintf("deals.pipelines[%d]", i), listFix, "the portal has no deal pipeline %q", id)
		}
	}
	counted := func(id string) bool { return len(cfg.Deals.Pipelines) == 0 || slices.Contains(cfg.Deals.Pipelines, id) }
	if cfg.Deals.WonStages.Auto {
		n := 0
		for _, p := range pipes {
			for _, s := range p.Stages {
				if counted(p.ID) && !s.Archived && s.IsClosed && s.Probability >= 1 {
					n++
				}
			}
		}
		if n == 0 {
			rep.add("deals.won_stages", "list the won stages explicitly as {pipeline, stage} (`clvsync properties --pipelines` lists them), or mark a stage closed-won (probability 100%) in HubSpot's pipeline settings",
				"auto found no closed-won stage (closed, probability 100%%) in the counted pipelines")
		}
		return
	}
	for i, ref := range cfg.Deals.WonStages.Stages {
		key := fmt.Sprintf("deals.won_stages[%d]", i)
		p, ok := byID[ref.Pipeline]
		if !ok {
			rep.add(key, listFix, "the portal has no deal pipeline %q", ref.Pipeline)
			continue
		}
		idx := slices.IndexFunc(p.Stages, func(s hubspot.Stage) bool { return s.ID == ref.Stage })
		if idx < 0 {
			var stages []string
			for _, s := range p.Stages {
				stages = append(stages, fmt.Sprintf("%s (%s)", s.ID, s.Label))
			}
			rep.add(key, "use a stage id of that pipeline: "+strings.Join(stages, ", "),
				"pipeline %s (%s) has no stage %q", p.ID, p.Label, ref.Stage)
			continue
		}
		if s := p.Stages[idx]; !s.IsClosed {
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s: stage %s (%s) is an open stage; its deals count as purchases before they close", key, s.ID, s.Label))
		}
		if !counted(p.ID) {
			rep.add(key, "add the pipeline to deals.pipelines or remove the stage", "pipeline %s is not in deals.pipelines, so this stage never counts", p.ID)
		}
	}
}

func (rep *LiveReport) checkOutputs(cfg Config, props map[string]hubspot.Property, groups []hubspot.PropertyGroup) {
	if !slices.ContainsFunc(groups, func(g hubspot.PropertyGroup) bool { return g.Name == cfg.Outputs.Group }) {
		rep.Notes = append(rep.Notes, fmt.Sprintf("property group %q does not exist yet: `clvsync setup` creates it", cfg.Outputs.Group))
	}
	opts := cfg.SegmentOptions()
	var create []string
	for _, def := range outputDefs {
		name := cfg.Property(def.Key)
		if name == "" {
			continue
		}
		key := outputProblemPrefix + string(def.Key)
		want := cfg.PropertyFor(def, opts[def.Key])
		have, ok := props[name]
		if !ok {
			create = append(create, name)
			continue
		}
		switch {
		case have.HubspotDefined || have.Calculated || (have.ModificationMetadata != nil && have.ModificationMetadata.ReadOnlyValue):
			rep.add(key, fmt.Sprintf("map the output to a property of your own, e.g. %s, or set it to off", def.Default),
				"%q is a HubSpot-defined or read-only property; clvsync cannot write it", name)
		case have.Type != want.Type:
			rep.add(key, fmt.Sprintf("map the output to another name (setup creates it), or delete the property in HubSpot so setup can recreate it as %s; clvsync never changes an existing property's type", want.Type),
				"contact property %q has type %s; clvsync writes %s", name, have.Type, want.Type)
		default:
			if !strings.HasPrefix(have.Description, "Written by clvsync") {
				rep.Notes = append(rep.Notes, fmt.Sprintf("%s: %q exists and was not created by clvsync; clvsync will overwrite its values", key, name))
			}
			if def.Kind == KindSegment {
				var lack []string
				for _, o := range want.Options {
					if !slices.ContainsFunc(have.Options, func(h hubspot.Option) bool { return h.Value == o.Value }) {
						lack = append(lack, o.Value)
					}
				}
				if len(lack) > 0 {
					rep.Notes = append(rep.Notes, fmt.Sprintf("%s: `clvsync setup` adds options %s to %q", key, strings.Join(lack, ", "), name))
				}
			}
		}
	}
	if len(create) > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d output properties do not exist yet and can be created by `clvsync setup` (needs %s): %s",
			len(create), ScopeSchemasWrite, strings.Join(create, ", ")))
	}
}

// typeMismatch matches yaml.v3's "cannot unmarshal !!str `35%` into
// float64".
var typeMismatch = regexp.MustCompile("^cannot unmarshal !!(\\w+) `(.*)` into (\\S+)$")

// plainTypeProblem says in plain words that value, at line n, is not of
// the kind goType holds, and how to write it.
func plainTypeProblem(value, goType string, n int) (msg, fix string) {
	kind, fix := "a value of another kind", "use a value of the kind the key takes (see the comment above it in `clvsync init`'s starter file)"
	switch {
	case strings.HasPrefix(goType, "float"):
		kind, fix = "a number", "write a plain number such as 0.35"
		if v, ok := strings.CutSuffix(strings.TrimSpace(value), "%"); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				fix = fmt.Sprintf("write %s for %s (shares are fractions)", strconv.FormatFloat(f/100, 'f', -1, 64), value)
			}
		}
	case strings.HasPrefix(goType, "int") || strings.HasPrefix(goType, "uint"):
		kind, fix = "a whole number", "write digits only, such as 12"
	case goType == "bool":
		kind, fix = "true or false", "write true or false"
	case goType == "string":
		kind, fix = "text", "write the value as text; quote it if it contains ': ' or '#'"
	case strings.HasPrefix(goType, "[]"):
		kind, fix = "a list", "write a list, one '- item' per line or [a, b]"
	case strings.HasPrefix(goType, "map["):
		kind, fix = "a set of keys", "write the keys indented under this one"
	case strings.HasSuffix(goType, "Duration"):
		kind, fix = "a duration", `write a duration such as "30d", "6h" or "15m"`
	}
	return fmt.Sprintf("%q at line %d is not %s", value, n, kind), fix
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
var unknownField = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)

// ParseProblems turns a ParseConfig error into Problems, one per YAML
// error, each keyed by the dotted config key at the line the error names
// (for example "hubspot.rate_limt_share"), with a fix. src is the file's
// content. Errors other than YAML ones become a single problem.
func ParseProblems(src []byte, err error) Problems {
	if err == nil {
		return nil
	}
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{strings.TrimPrefix(err.Error(), "parse YAML: ")}
	}
	lines := keyLines(src)
	var ps Problems
	for _, m := range msgs {
		p := Problem{Key: "config", Msg: m, Fix: "fix the YAML at the line named (indent with spaces, quote values containing ': ' or '#')"}
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			n, _ := strconv.Atoi(sm[1])
			p.Key, p.Msg = fmt.Sprintf("line %s", sm[1]), sm[2]
			if k, ok := lines[n]; ok {
				p.Key = k
			}
			if um := unknownField.FindStringSubmatch(sm[2]); um != nil {
				p.Msg = fmt.Sprintf("unknown key %q (line %d)", um[1], n)
				p.Fix = "remove it or correct the spelling"
				if s := closestKey(p.Key, um[1]); s != "" {
					p.Fix = fmt.Sprintf("did you mean %s?", s)
				}
			} else if tm := typeMismatch.FindStringSubmatch(sm[2]); tm != nil {
				p.Msg, p.Fix = plainTypeProblem(tm[2], tm[3], n)
			} else if strings.HasPrefix(sm[2], "cannot unmarshal") {
				p.Msg = fmt.Sprintf("a value of the wrong kind at line %d", n)
				p.Fix = "use a value of the kind the key takes (see the comment above it in `clvsync init`'s starter file)"
			} else if !strings.HasPrefix(m, "yaml: ") {
				p.Fix = "see docs/admin.md for the values this key takes"
			}
		}
		ps = append(ps, p)
	}
	return ps
}

// keyLines maps each line of src that holds a key (or a list item) to the
// key's dotted path, e.g. 7 -> "hubspot.rate_limit_share", 40 ->
// "segments.tiers.names[1]".
func keyLines(src []byte) map[int]string {
	var doc yaml.Node
	out := map[int]string{}
	if yaml.Unmarshal(src, &doc) != nil {
		return out
	}
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := k.Value
				if path != "" {
					p = path + "." + k.Value
				}
				if _, seen := out[k.Line]; !seen || n.Style&yaml.FlowStyle == 0 {
					out[k.Line] = p
				}
				walk(v, p)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				p := fmt.Sprintf("%s[%d]", path, i)
				if _, seen := out[c.Line]; !seen {
					out[c.Line] = p
				}
				walk(c, p)
			}
		}
	}
	walk(&doc, "")
	return out
}

// closestKey suggests the known key nearest to an unknown one, comparing
// it with the keys DefaultConfig has in the same section.
func closestKey(unknownPath, field string) string {
	section := strings.TrimSuffix(unknownPath, field)
	section = strings.TrimSuffix(section, ".")
	b, err := yaml.Marshal(StarterConfig())
	if err != nil {
		return ""
	}
	var known []string
	for _, p := range keyLines(b) {
		dir, name := "", p
		if i := strings.LastIndex(p, "."); i >= 0 {
			dir, name = p[:i], p[i+1:]
		}
		if dir == section && !strings.Contains(name, "[") {
			known = append(known, name)
		}
	}
	if section == "hubspot" {
		known = append(known, "token_file")
	}
	best, bestD := "", 4
	sort.Strings(known)
	for _, k := range known {
		d := editDistance(k, field)
		if strings.HasPrefix(k, field) || strings.HasPrefix(field, k) {
			d = min(d, 1) // a shortened or extended key: "horizon" for "horizon_months"
		}
		if d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	if section != "" {
		return section + "." + best
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
