package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	hsync "github.com/clvsync/clvsync/sync"
	"github.com/clvsync/clvsync/sync/config"
)

func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cf commonFlags
	fs := newFlags("run", stderr, "run --config FILE [--full] [--dry-run] [--max-changes N|P%] [--refit] [--reconcile] [--accept-changes]")
	cf.register(fs)
	full := fs.Bool("full", false, "force a full resync instead of an incremental one")
	dry := fs.Bool("dry-run", false, "do everything except write to HubSpot, and print what would change")
	maxChanges := fs.String("max-changes", "", `abort when more contacts would change than this count ("500") or share ("10%")`)
	refit := fs.Bool("refit", false, "fit the model again now instead of predicting with the stored one (it is refitted every model.refit anyway)")
	reconcile := fs.Bool("reconcile", false, "read the values back from HubSpot and rewrite every contact whose values differ from what clvsync wrote (full resyncs always do)")
	accept := fs.Bool("accept-changes", false, "write this once even when the circuit breaker would refuse (after checking the change is intended)")
	if code, ok := parseArgs(fs, args, stdout); !ok {
		return code
	}
	cfg, err := cf.loadConfig()
	if err != nil {
		return fail(stderr, err)
	}
	if *maxChanges != "" {
		if _, _, err := config.ParseMaxChanges(*maxChanges); err != nil {
			return fail(stderr, config.Problems{{Key: "--max-changes", Msg: err.Error(), Fix: `use a count such as 500 or a share such as 10%`}})
		}
	}
	token, err := cfg.Token(os.Getenv)
	if err != nil {
		return fail(stderr, config.Problems{{Key: "HUBSPOT_TOKEN", Msg: err.Error()}})
	}
	ui := newRunUI(stderr, cfg.Operations, token)
	defer ui.Done()
	logger := ui.Logger
	store, err := openStore(cfg)
	if err != nil {
		return fail(stderr, err)
	}
	defer store.Close()
	client, err := newClient(cfg, token, logger, nil)
	if err != nil {
		return fail(stderr, err)
	}
	runner := &hsync.Runner{Client: hsync.NewHubSpot(client), Store: store, Config: cfg, Logger: logger, PullGCPercent: pullGCPercent(), ComputeGCPercent: computeGCPercent(), Progress: ui.Progress}
	if runner.Clock, err = clockFromEnv(os.Getenv); err != nil {
		return fail(stderr, err)
	}
	runCtx, cancel := context.WithTimeout(ctx, time.Duration(cfg.Schedule.RunTimeout))
	defer cancel()
	rep, err := runner.Run(runCtx, hsync.RunOptions{Full: *full, DryRun: *dry, MaxChanges: *maxChanges,
		Refit: *refit, Reconcile: *reconcile, AcceptChanges: *accept})
	ui.Done()
	if err != nil {
		printOutcome(stdout, err)
	}
	if rep.Customers > 0 || rep.Changed > 0 || err == nil {
		printReport(stdout, rep, cf.config)
	}
	if err != nil {
		logger.Error("run ended", "outcome", hsync.Outcome(err), "err", err)
		return fail(stderr, err)
	}
	return exitOK
}

// printOutcome heads the summary of a run that did not end ok with its
// outcome in capitals, so nobody reads a failed run's counts as a success.
func printOutcome(w io.Writer, err error) {
	first, _, _ := strings.Cut(err.Error(), "\n")
	fmt.Fprintf(w, "%s: %s\n", strings.ToUpper(string(hsync.Outcome(err))), first)
}

// printReport prints a short, readable summary of a run; cfgPath makes the
// hints it prints work as printed.
func printReport(w io.Writer, rep hsync.Summary, cfgPath string) {
	verb := "to write"
	if rep.DryRun {
		verb = "would be written"
	}
	if rep.DryRun {
		fmt.Fprintf(w, "Dry run (%s: %s; nothing written, nothing recorded)\n", rep.Mode, rep.Reason)
	} else {
		fmt.Fprintf(w, "Run %d (%s: %s)\n", rep.RunID, rep.Mode, rep.Reason)
	}
	if v := rep.Value; rep.Customers > 0 {
		fmt.Fprintf(w, "  value       %d customers worth %s %s in all (CLV: profit so far + predicted), %s %s of it predicted",
			rep.Customers, v.Currency, money(v.Total), v.Currency, money(v.Predicted))
		if v.TopTier != "" {
			fmt.Fprintf(w, "; the %s tier holds %.0f%%", v.TopTier, 100*v.TopTierShare)
		}
		fmt.Fprintln(w)
		printComputed(w, rep, "customers")
	}
	for i, m := range rep.Moves {
		label := ""
		if i == 0 {
			label = "top moves"
		}
		fmt.Fprintf(w, "  %-12s%s: CLV %s -> %s\n", label, contactLabel(m), moneyOrDash(m.Old[config.OutTotal]), moneyOrDash(m.New[config.OutTotal]))
	}
	fmt.Fprintf(w, "  pulled      %d deals, %d contacts (%d deleted, %d merged)\n", rep.Pulled.Deals, rep.Pulled.Contacts, rep.Pulled.Deleted, rep.Pulled.Merged)
	fmt.Fprintf(w, "  model       %s v%d", rep.Model, rep.ModelVersion)
	if rep.Refit != "" {
		fmt.Fprintf(w, " (fitted this run: %s)", rep.Refit)
	}
	fmt.Fprintln(w)
	if rep.FitNote != "" {
		fmt.Fprintf(w, "              %s\n", rep.FitNote)
	}
	fmt.Fprintf(w, "  changed     %d contacts %s, %d unchanged", rep.Changed, verb, rep.Skipped)
	if !rep.DryRun {
		fmt.Fprintf(w, "; %d written, %d failed", rep.Written, rep.Failed)
	}
	fmt.Fprintln(w)
	if rep.Changed > 0 {
		fmt.Fprintf(w, "  why         %d own orders, %d model refit, %d time passing, %d repaired\n",
			rep.ChangedBy.Orders, rep.ChangedBy.Refit, rep.ChangedBy.Time, rep.ChangedBy.Repair)
	}
	if rep.Repaired > 0 {
		fmt.Fprintf(w, "  repaired    %d contacts had values in HubSpot that differ from what clvsync wrote\n", rep.Repaired)
	}
	if rep.Breaker.Enabled && (rep.DryRun || len(rep.Breaker.Tripped) > 0) {
		fmt.Fprintf(w, "  breaker     %s\n", rep.Breaker)
		if rep.DryRun && len(rep.Breaker.Tripped) > 0 {
			fmt.Fprintln(w, "              a real run would write nothing and exit 7; `clvsync run --accept-changes` writes it once")
		}
	}
	for _, p := range rep.LeftOut {
		fmt.Fprintf(w, "  LEFT OUT    %s\n", p)
	}
	if len(rep.Setup.Created) > 0 || rep.Setup.GroupCreated {
		fmt.Fprintf(w, "  setup       created %d properties\n", len(rep.Setup.Created))
	}
	for _, p := range rep.Setup.Problems {
		fmt.Fprintf(w, "  PROBLEM     %s\n", p)
	}
	if rep.Warnings > 0 {
		fmt.Fprintf(w, "  warnings    %d data problems in deals (see `clvsync runs --last --config %s`)\n", rep.Warnings, cfgPath)
	}
	fmt.Fprintf(w, "  API calls   %d (%d rate-limited), time %s\n", rep.APICalls, rep.RateLimited, rep.Duration.Round(time.Millisecond))
	if c := rep.Companies; c != nil {
		printCompanies(w, *c, verb)
	}
	if rep.DryRun {
		printChanges(w, rep)
	} else if len(rep.Transitions) > 0 {
		fmt.Fprintln(w, "  tier transitions:")
		for _, k := range sortedKeys(rep.Transitions) {
			fmt.Fprintf(w, "    %-20s %d\n", k, rep.Transitions[k])
		}
	}
}

// printComputed says, when a run computed only the customers whose inputs
// changed, how many that was.
func printComputed(w io.Writer, rep hsync.Summary, what string) {
	if rep.Computed < rep.Customers {
		fmt.Fprintf(w, "  computed    %d of the %d %s: those whose deals or records changed since today's first run (the others keep its values)\n",
			rep.Computed, rep.Customers, what)
	}
}

// printCompanies prints the company pass's account (companies: true).
func printCompanies(w io.Writer, c hsync.Summary, verb string) {
	v := c.Value
	fmt.Fprintf(w, "  companies   %d companies worth %s %s in all, %s %s of it predicted; model %s v%d",
		c.Customers, v.Currency, money(v.Total), v.Currency, money(v.Predicted), c.Model, c.ModelVersion)
	if c.Refit != "" {
		fmt.Fprintf(w, " (fitted this run: %s)", c.Refit)
	}
	fmt.Fprintln(w)
	printComputed(w, c, "companies")
	fmt.Fprintf(w, "              %d companies %s, %d unchanged", c.Changed, verb, c.Skipped)
	if !c.DryRun {
		fmt.Fprintf(w, "; %d written, %d failed", c.Written, c.Failed)
	}
	fmt.Fprintln(w)
	if c.Breaker.Enabled && (c.DryRun || len(c.Breaker.Tripped) > 0) {
		fmt.Fprintf(w, "              companies' %s\n", c.Breaker)
	}
	for _, p := range c.LeftOut {
		fmt.Fprintf(w, "  LEFT OUT    %s\n", p)
	}
	for _, p := range c.Setup.Problems {
		fmt.Fprintf(w, "  PROBLEM     %s\n", p)
	}
}

func printChanges(w io.Writer, rep hsync.Summary) {
	if len(rep.ChangesByKey) > 0 {
		fmt.Fprintln(w, "  changes per output:")
		for _, k := range sortedKeys(rep.ChangesByKey) {
			fmt.Fprintf(w, "    %-20s %d\n", k, rep.ChangesByKey[k])
		}
	}
	if len(rep.Transitions) > 0 {
		fmt.Fprintln(w, "  tier transitions:")
		for _, k := range sortedKeys(rep.Transitions) {
			fmt.Fprintf(w, "    %-20s %d\n", k, rep.Transitions[k])
		}
	}
	if rep.DryRun && len(rep.Sample) > 0 {
		fmt.Fprintln(w, "  sample of changes:")
		for _, s := range rep.Sample {
			fmt.Fprintf(w, "    %s\n", contactLabel(s))
			line := "      "
			for _, k := range sortedKeys(s.New) {
				if k == config.OutExplain || k == config.OutUpdatedAt {
					continue
				}
				part := fmt.Sprintf("%s %s -> %s", k, orDash(s.Old[k]), s.New[k])
				if len(line) > 6 && len(line)+len(part)+2 > 100 {
					fmt.Fprintln(w, strings.TrimSuffix(line, ", "))
					line = "      "
				}
				line += part + ", "
			}
			fmt.Fprintln(w, strings.TrimSuffix(line, ", "))
		}
	}
}

// contactLabel names a contact the way a person finds it in HubSpot.
func moneyOrDash(s string) string {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return "-"
	}
	return money(d)
}

func contactLabel(s hsync.ChangeSample) string {
	if s.Name != "" {
		return fmt.Sprintf("%s (contact %s)", s.Name, s.ContactID)
	}
	return "contact " + s.ContactID
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K { return slices.Sorted(maps.Keys(m)) }

// clockFromEnv reads CLVSYNC_NOW (RFC 3339), a testing hook that pins the
// time a run computes "as of", so runs can be compared exactly.
func clockFromEnv(getenv func(string) string) (func() time.Time, error) {
	v := getenv("CLVSYNC_NOW")
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, config.Problems{{Key: "CLVSYNC_NOW", Msg: err.Error(), Fix: "use RFC 3339, e.g. 2026-11-01T12:00:00Z, or unset it"}}
	}
	return func() time.Time { return t }, nil
}

// pullGCPercent is the collector's target during a run's pull (see
// sync.Runner.PullGCPercent): 300, unless the operator set GOGC.
func pullGCPercent() int { return unlessGOGC(300) }

// computeGCPercent is the collector's target while a run computes its
// customers (see sync.Runner.ComputeGCPercent): 25, unless the operator
// set GOGC.
func computeGCPercent() int { return unlessGOGC(25) }

func unlessGOGC(percent int) int {
	if os.Getenv("GOGC") != "" {
		return 0
	}
	return percent
}
