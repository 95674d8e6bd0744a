package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/state"
	"github.com/clvsync/clvsync/sync/config"
)

// newFlags returns a FlagSet that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer, help string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: clvsync %s\n\n", help)
		printFlags(fs)
	}
	return fs
}

// printFlags lists a command's flags the way its usage line writes them,
// --name, under "Flags:".
func printFlags(fs *flag.FlagSet) {
	w := fs.Output()
	fmt.Fprintln(w, "Flags:")
	fs.VisitAll(func(f *flag.Flag) {
		kind, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if kind != "" {
			line += " " + kind
		}
		fmt.Fprintf(w, "%s\n      %s", line, strings.ReplaceAll(usage, "\n", "\n      "))
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(w, " (default %q)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

// parseArgs parses a command's flags. -h and --help print the command's
// help on stdout and exit 0; a bad flag prints it on stderr and exits 2.
func parseArgs(fs *flag.FlagSet, args []string, stdout io.Writer) (code int, ok bool) {
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "--help" || a == "-help" {
			fs.SetOutput(stdout)
			fs.Usage()
			return exitOK, false
		}
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage, false
	}
	return exitOK, true
}

// commonFlags are shared by the commands that read a config.
type commonFlags struct {
	config    string
	logFormat string
	logLevel  string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.config, "config", "clvsync.yaml", "config file")
	fs.StringVar(&c.logFormat, "log-format", "", "log format: auto (text on a terminal, JSON otherwise), text or json (default: operations.log_format)")
	fs.StringVar(&c.logLevel, "log-level", "", "log level: debug, info, warn or error (default: operations.log_level)")
}

// readConfig is the one config reader of every command: it reads the file
// and parses it strictly (unknown keys are errors). A file that does not
// parse cleanly comes back as Problems holding every problem at once (YAML,
// types, ranges), keyed by the config key, so the same mistake reads the
// same from every command.
func readConfig(path string) (config.Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return config.Config{}, config.Problems{{Key: "--config", Msg: fmt.Sprintf("%s does not exist", path),
				Fix: "run `clvsync init` to write a starter file, or pass --config PATH"}}
		}
		return config.Config{}, fmt.Errorf("read config %s: %w", path, err)
	}
	cfg, err := config.ParseAll(src)
	if err != nil {
		return cfg, err
	}
	// Paths in the file are relative to the file, not to the working
	// directory: a run started elsewhere must find the same state file.
	if abs, err := filepath.Abs(path); err == nil {
		cfg.ResolvePaths(filepath.Dir(abs))
	}
	return cfg, nil
}

// read reads the config file named by --config and applies the log flags.
// It does not validate.
func (c *commonFlags) read() (config.Config, error) {
	cfg, err := readConfig(c.config)
	if err != nil {
		return cfg, err
	}
	if c.logFormat != "" {
		cfg.Operations.LogFormat = c.logFormat
	}
	if c.logLevel != "" {
		cfg.Operations.LogLevel = c.logLevel
	}
	return cfg, nil
}

// loadConfig reads the config file named by --config, applies the log
// flags and validates the result.
func (c *commonFlags) loadConfig() (config.Config, error) {
	cfg, err := c.read()
	if err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// newLogger is the one logger builder of every command: text on a
// terminal, JSON otherwise, unless ops.LogFormat says which, at
// ops.LogLevel. secret (the HubSpot token) is redacted from every record;
// "" redacts nothing.
func newLogger(w io.Writer, ops config.OperationsConfig, secret string) *slog.Logger {
	var lv slog.Level
	switch strings.ToLower(ops.LogLevel) {
	case "debug":
		lv = slog.LevelDebug
	case "warn":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if ops.LogFormat == "json" || (ops.LogFormat != "text" && !isTerminal(w)) {
		return redactLogger(slog.New(slog.NewJSONHandler(w, opts)), secret)
	}
	return redactLogger(slog.New(slog.NewTextHandler(w, opts)), secret)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newClient builds the HubSpot client from the config and the token.
func newClient(cfg config.Config, token string, logger *slog.Logger, observer func(hubspot.RequestEvent)) (*hubspot.Client, error) {
	return hubspot.New(hubspot.Options{
		BaseURL: cfg.HubSpot.BaseURL, Token: token, APIVersion: cfg.HubSpot.APIVersion,
		Tier: cfg.HubSpot.Tier, Share: cfg.HubSpot.RateLimitShare, Logger: logger, Observer: observer,
	})
}

// openStore opens the state file named by the config.
func openStore(cfg config.Config) (*state.Store, error) {
	return state.Open(cfg.State.Path, state.Options{
		Timeout: 3 * time.Second, HistoryRetention: cfg.State.HistoryRetention, RunRetention: cfg.State.RunRetention,
	})
}

// fail prints an error and returns its exit code.
func fail(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, "error:", err)
	return exitCode(err)
}
