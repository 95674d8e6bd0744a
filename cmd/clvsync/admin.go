package main

// The admin commands: init, validate, properties and setup.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/clvsync/clvsync/hubspot"
	hsync "github.com/clvsync/clvsync/sync"
	"github.com/clvsync/clvsync/sync/config"
)

// tokenFix tells an admin where the token comes from.
const tokenFix = "export HUBSPOT_TOKEN=<private app token or service key>, or set hubspot.token_file"

// flagSet reports whether the named flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// adminClient builds a HubSpot client from the config and the token in the
// environment (or hubspot.token_file), logging to stderr as the config says
// (nil stderr: no logs).
func adminClient(cfg config.Config, stderr io.Writer) (*hubspot.Client, error) {
	token, err := cfg.Token(os.Getenv)
	if err != nil {
		return nil, config.Problems{{Key: "HUBSPOT_TOKEN", Msg: err.Error(), Fix: tokenFix}}
	}
	var logger *slog.Logger
	if stderr != nil {
		logger = newLogger(stderr, cfg.Operations, token)
	}
	client, err := newClient(cfg, token, logger, nil)
	if err != nil {
		return nil, config.Problems{{Key: "hubspot", Msg: err.Error(), Fix: "check hubspot.base_url, api_version, tier and rate_limit_share"}}
	}
	return client, nil
}

// printProblems prints problems one per line, each with its fix.
func printProblems(w io.Writer, ps config.Problems) {
	for _, p := range ps {
		fmt.Fprintf(w, "  ✗ %s: %s\n", p.Key, p.Msg)
		if p.Fix != "" {
			fmt.Fprintf(w, "      fix: %s\n", p.Fix)
		}
	}
}

// failHint adds what to do for token and scope errors, then fails.
func failHint(stderr io.Writer, err error) int {
	code := fail(stderr, err)
	switch {
	case errors.Is(err, hubspot.ErrUnauthorized):
		fmt.Fprintln(stderr, "hint: HubSpot rejected the token;", tokenFix)
	case errors.Is(err, hubspot.ErrMissingScopes):
		var apiErr *hubspot.APIError
		scopes := "the scope named above"
		if errors.As(err, &apiErr) && len(apiErr.RequiredScopes()) > 0 {
			scopes = strings.Join(apiErr.RequiredScopes(), ", ")
		}
		fmt.Fprintf(stderr, "hint: grant %s to the private app or service key (`clvsync validate` lists every scope clvsync needs)\n", scopes)
	}
	return code
}

// runInit writes a commented starter config. With HUBSPOT_TOKEN set it
// first reads the portal and pre-fills the deal mapping.
func runInit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("init", stderr, "init [--config clvsync.yaml|-] [--force] [--offline] [--base-url URL]")
	path := fs.String("config", "clvsync.yaml", `file to write ("-" writes to standard output)`)
	force := fs.Bool("force", false, "overwrite an existing file")
	offline := fs.Bool("offline", false, "do not read the portal even when HUBSPOT_TOKEN is set")
	baseURL := fs.String("base-url", "", "HubSpot API base URL to read from and write into the file (e.g. http://127.0.0.1:8089 for fakehub)")
	if code, ok := parseArgs(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "init takes no arguments (got %q)\n", fs.Args())
		return exitUsage
	}
	if *path != "-" && !*force {
		if _, err := os.Stat(*path); err == nil {
			return fail(stderr, config.Problems{{Key: "--config", Msg: fmt.Sprintf("%s already exists", *path),
				Fix: "pass --force to overwrite it, or --config to write another file"}})
		}
	}
	cfg := config.StarterConfig()
	if *baseURL != "" {
		cfg.HubSpot.BaseURL = strings.TrimRight(*baseURL, "/")
	}
	var notes []string
	if token := strings.TrimSpace(os.Getenv("HUBSPOT_TOKEN")); token != "" && !*offline {
		client, err := newClient(cfg, token, nil, nil)
		if err != nil {
			return fail(stderr, config.Problems{{Key: "--base-url", Msg: err.Error(), Fix: "use https://api.hubapi.com or http://127.0.0.1:PORT"}})
		}
		facts, err := config.InspectPortal(ctx, client)
		if err != nil {
			fmt.Fprintln(stderr, "clvsync init: could not read the portal; pass --offline to write the defaults instead")
			return failHint(stderr, err)
		}
		notes = facts.Apply(&cfg)
	} else if !*offline {
		fmt.Fprintln(stderr, "HUBSPOT_TOKEN is not set: writing the defaults. Set it and rerun with --force to pre-fill won stages and currencies from the portal.")
	}
	out, err := config.StarterYAML(cfg, notes)
	if err != nil {
		return fail(stderr, err)
	}
	if err := cfg.Validate(); err != nil {
		// The portal produced a mapping the validator rejects (e.g. odd ids):
		// write it anyway so the admin can fix it, but say so.
		fmt.Fprintln(stderr, "warning: the pre-filled file needs attention:")
		var ps config.Problems
		if errors.As(err, &ps) {
			printProblems(stderr, ps)
		}
	}
	if *path == "-" {
		stdout.Write(out)
		return exitOK
	}
	if err := writeFileAtomic(*path, out); err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "Wrote %s.\n", *path)
	for _, n := range notes {
		fmt.Fprintf(stdout, "  %s\n", n)
	}
	fmt.Fprintf(stdout, "Next: review it, then `clvsync validate --config %s` and `clvsync setup --config %s`.\n", *path, *path)
	return exitOK
}

// writeFileAtomic writes data to a temporary file next to path and renames
// it into place, so a crash never leaves half a config.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// runValidate checks the config offline and, unless --offline, against the
// portal, and reports every problem at once. Exit 0 when all is well, 4
// when the token is rejected or lacks scopes, 2 for any other problem.
func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cf commonFlags
	fs := newFlags("validate", stderr, "validate [--config clvsync.yaml] [--offline] [--base-url URL]")
	cf.register(fs)
	offline := fs.Bool("offline", false, "check the file only, not the portal")
	baseURL := fs.String("base-url", "", "override hubspot.base_url (e.g. for fakehub)")
	if code, ok := parseArgs(fs, args, stdout); !ok {
		return code
	}
	cfg, err := cf.read()
	var ps config.Problems
	if err != nil {
		if !errors.As(err, &ps) {
			return fail(stderr, err)
		}
		// The file does not parse: the other checks would run on defaults.
		fmt.Fprintf(stdout, "%s: %d problem(s)\n", cf.config, len(ps))
		printProblems(stdout, ps)
		return exitUsage
	}
	if *baseURL != "" {
		cfg.HubSpot.BaseURL = strings.TrimRight(*baseURL, "/")
	}
	if err := cfg.Validate(); err != nil {
		var offlinePs config.Problems
		if !errors.As(err, &offlinePs) {
			return fail(stderr, err)
		}
		ps = append(ps, offlinePs...)
	}
	var notes []string
	checked := "offline"
	if !*offline {
		client, err := adminClient(cfg, stderr)
		var clientPs config.Problems
		switch {
		case errors.As(err, &clientPs) && slices.ContainsFunc(ps, func(p config.Problem) bool { return strings.HasPrefix(p.Key, "hubspot.") }):
			// The hubspot.* problems above already say why no client could be built.
			notes = append(notes, "the portal was not checked: fix the hubspot.* keys first")
		case errors.As(err, &clientPs):
			for i := range clientPs {
				if clientPs[i].Key == "HUBSPOT_TOKEN" {
					clientPs[i].Fix = tokenFix + "; or pass --offline to check the file only"
				}
			}
			ps = append(ps, clientPs...)
		case err != nil:
			return fail(stderr, err)
		default:
			live, err := config.ValidatePortal(ctx, cfg, client)
			if err != nil {
				return failHint(stderr, err)
			}
			ps = append(ps, live.Problems...)
			notes = live.Notes
			checked = fmt.Sprintf("offline and against portal %d at %s", live.PortalID, cfg.HubSpot.BaseURL)
		}
	}
	if len(ps) == 0 {
		fmt.Fprintf(stdout, "%s: OK (checked %s)\n", cf.config, checked)
	} else {
		fmt.Fprintf(stdout, "%s: %d problem(s) (checked %s)\n", cf.config, len(ps), checked)
		printProblems(stdout, ps)
	}
	if len(notes) > 0 {
		fmt.Fprintln(stdout, "notes:")
		for _, n := range notes {
			fmt.Fprintf(stdout, "  - %s\n", n)
		}
	}
	switch {
	case len(ps) == 0:
		return exitOK
	case slices.ContainsFunc(ps, func(p config.Problem) bool { return p.Key == "HUBSPOT_TOKEN" }):
		return exitAuth
	}
	return exitUsage
}

// runProperties lists the portal's deal and contact properties, or with
// --pipelines the deal pipelines and their stages, so an admin can pick
// mappings.
func runProperties(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("properties", stderr, "properties [--config clvsync.yaml] [--object deals|contacts|all] [--match TEXT] [--hidden] [--pipelines] [--base-url URL]")
	path := fs.String("config", "clvsync.yaml", "config file (for the connection; optional)")
	object := fs.String("object", "all", "deals, contacts or all")
	match := fs.String("match", "", "only properties whose name or label contains this text (case-insensitive)")
	hidden := fs.Bool("hidden", false, "include hidden properties")
	pipelines := fs.Bool("pipelines", false, "list deal pipelines and stages instead (with the ids deals.won_stages takes)")
	baseURL := fs.String("base-url", "", "override hubspot.base_url (e.g. for fakehub)")
	if code, ok := parseArgs(fs, args, stdout); !ok {
		return code
	}
	var objects []string
	switch *object {
	case "all":
		objects = []string{"deals", "contacts"}
	case "deals", "deal", "contacts", "contact":
		objects = []string{strings.TrimSuffix(*object, "s") + "s"}
	default:
		return fail(stderr, config.Problems{{Key: "--object", Msg: fmt.Sprintf("unknown object %q", *object), Fix: "use deals, contacts or all"}})
	}
	cfg, err := readConfig(*path)
	if err != nil {
		var ps config.Problems
		// Without a config file the defaults do: only the connection matters here.
		if !flagSet(fs, "config") && errors.As(err, &ps) && len(ps) == 1 && ps[0].Key == "--config" {
			cfg, err = config.DefaultConfig(), nil
		} else {
			return fail(stderr, err)
		}
	}
	if *baseURL != "" {
		cfg.HubSpot.BaseURL = strings.TrimRight(*baseURL, "/")
	}
	client, err := adminClient(cfg, nil)
	if err != nil {
		return fail(stderr, err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	if *pipelines {
		pipes, err := client.Pipelines.List(ctx, "deals")
		if err != nil {
			return failHint(stderr, err)
		}
		fmt.Fprintln(tw, "PIPELINE\tSTAGE\tLABEL\tCLOSED\tPROBABILITY\tWON (auto)")
		for _, p := range pipes {
			for _, s := range p.Stages {
				won := ""
				if s.IsClosed && s.Probability >= 1 {
					won = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s / %s\t%v\t%g\t%s\n", p.ID, s.ID, p.Label, s.Label, s.IsClosed, s.Probability, won)
			}
		}
		return exitOK
	}
	needle := strings.ToLower(*match)
	for i, obj := range objects {
		props, err := client.Properties.List(ctx, obj, false)
		if err != nil {
			tw.Flush()
			return failHint(stderr, err)
		}
		slices.SortFunc(props, func(a, b hubspot.Property) int { return strings.Compare(a.Name, b.Name) })
		if i > 0 {
			fmt.Fprintln(tw)
		}
		fmt.Fprintf(tw, "%s properties\n", strings.TrimSuffix(obj, "s"))
		fmt.Fprintln(tw, "NAME\tLABEL\tTYPE\tFIELD\tNOTE")
		for _, p := range props {
			if p.Hidden && !*hidden {
				continue
			}
			if needle != "" && !strings.Contains(strings.ToLower(p.Name), needle) && !strings.Contains(strings.ToLower(p.Label), needle) {
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", p.Name, p.Label, p.Type, p.FieldType, propertyNote(p))
		}
	}
	return exitOK
}

// propertyNote says what an admin should know about a property when
// picking a mapping.
func propertyNote(p hubspot.Property) string {
	var notes []string
	if p.Calculated || p.FieldType == "calculation_equation" {
		notes = append(notes, "calculated")
	}
	if p.ModificationMetadata != nil && p.ModificationMetadata.ReadOnlyValue {
		notes = append(notes, "read-only")
	}
	if !p.HubspotDefined {
		notes = append(notes, "custom")
	}
	if p.Type == "enumeration" && len(p.Options) > 0 {
		notes = append(notes, fmt.Sprintf("%d options", len(p.Options)))
	}
	return strings.Join(notes, ", ")
}

// runSetup creates the property group and every output property that is not
// off. It is idempotent: a second run changes nothing. Existing properties of
// the wrong type are reported and left alone (exit 2).
func runSetup(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cf commonFlags
	fs := newFlags("setup", stderr, "setup [--config clvsync.yaml] [--dry-run] [--base-url URL]")
	cf.register(fs)
	dry := fs.Bool("dry-run", false, "only say what would be created")
	baseURL := fs.String("base-url", "", "override hubspot.base_url (e.g. for fakehub)")
	if code, ok := parseArgs(fs, args, stdout); !ok {
		return code
	}
	cfg, err := cf.read()
	if err == nil {
		if *baseURL != "" {
			cfg.HubSpot.BaseURL = strings.TrimRight(*baseURL, "/")
		}
		err = cfg.Validate()
	}
	var ps config.Problems
	if errors.As(err, &ps) {
		fmt.Fprintf(stderr, "%s: %d problem(s); fix them first (`clvsync validate` checks the portal too)\n", cf.config, len(ps))
		printProblems(stderr, ps)
		return exitUsage
	} else if err != nil {
		return fail(stderr, err)
	}
	client, err := adminClient(cfg, stderr)
	if err != nil {
		return fail(stderr, err)
	}
	rep, err := hsync.Setup(ctx, client.Properties, cfg, *dry)
	if err != nil {
		return failHint(stderr, err)
	}
	printSetup(stdout, cfg, rep, *dry)
	problems := len(rep.Problems)
	if cfg.Companies {
		// With companies on, companies carry the same outputs.
		crep, err := hsync.SetupObject(ctx, client.Properties, "companies", cfg, *dry)
		if err != nil {
			return failHint(stderr, err)
		}
		fmt.Fprintln(stdout, "Companies (companies: true):")
		printSetup(stdout, cfg, crep, *dry)
		problems += len(crep.Problems)
	}
	if problems > 0 {
		return exitUsage
	}
	return exitOK
}

// printSetup prints what setup did (or, dry, would do).
func printSetup(w io.Writer, cfg config.Config, rep hsync.SetupResult, dry bool) {
	created, added := "created", "added"
	if dry {
		created, added = "to create", "to add"
	}
	if rep.GroupCreated {
		fmt.Fprintf(w, "Property group %q: %s\n", cfg.Outputs.Group, created)
	} else {
		fmt.Fprintf(w, "Property group %q: exists\n", cfg.Outputs.Group)
	}
	if len(rep.Created) > 0 {
		fmt.Fprintf(w, "Properties %s (%d): %s\n", created, len(rep.Created), strings.Join(rep.Created, ", "))
	}
	for _, name := range sortedKeys(rep.OptionsAdded) {
		fmt.Fprintf(w, "Options %s to %s: %s\n", added, name, strings.Join(rep.OptionsAdded[name], ", "))
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "  ✗ %s\n", p)
	}
	off := 0
	for _, k := range config.OutputKeys() {
		if cfg.Property(k) == "" {
			off++
		}
	}
	switch {
	case len(rep.Problems) > 0:
		fmt.Fprintf(w, "%d property problem(s): nothing was changed for those properties.\n", len(rep.Problems))
	case rep.AlreadyComplete:
		fmt.Fprintf(w, "Nothing to change: all %d output properties exist with the right types (%d off).\n", len(config.OutputKeys())-off, off)
	case dry:
		fmt.Fprintln(w, "Dry run: nothing was changed. Run without --dry-run to apply.")
	default:
		fmt.Fprintln(w, "Done. Running setup again changes nothing.")
	}
}
