package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/state"
	hsync "github.com/clvsync/clvsync/sync"
)

// newFlags returns a FlagSet that reports errors instead of exiting.
func newFlags(name string, stderr io.Writer, help string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: clvsync %s\n\n", help)
		fs.PrintDefaults()
	}
	return fs
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

// loadConfig reads and validates the config file.
func (c *commonFlags) loadConfig() (hsync.Config, error) {
	cfg, err := hsync.LoadConfig(c.config)
	if err != nil {
		if os.IsNotExist(unwrapAll(err)) {
			return cfg, hsync.Problems{{Key: "--config", Msg: fmt.Sprintf("%s does not exist", c.config), Fix: "run `clvsync init` to write a starter file, or pass --config PATH"}}
		}
		return cfg, hsync.Problems{{Key: "--config", Msg: err.Error(), Fix: "fix the YAML at the line named"}}
	}
	if c.logFormat != "" {
		cfg.Operations.LogFormat = c.logFormat
	}
	if c.logLevel != "" {
		cfg.Operations.LogLevel = c.logLevel
	}
	return cfg, cfg.Validate()
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		next := u.Unwrap()
		if next == nil {
			return err
		}
		err = next
	}
}

// newLogger builds the slog logger: text on a terminal, JSON otherwise,
// unless format says which.
func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	switch strings.ToLower(level) {
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
	if format == "json" || (format != "text" && !isTerminal(w)) {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newClient builds the HubSpot client from the config and the token.
func newClient(cfg hsync.Config, token string, logger *slog.Logger, observer func(hubspot.RequestEvent)) (*hubspot.Client, error) {
	return hubspot.New(hubspot.Options{
		BaseURL: cfg.HubSpot.BaseURL, Token: token, APIVersion: cfg.HubSpot.APIVersion,
		Tier: cfg.HubSpot.Tier, Share: cfg.HubSpot.RateLimitShare, Logger: logger, Observer: observer,
	})
}

// openStore opens the state file named by the config.
func openStore(cfg hsync.Config) (*state.Store, error) {
	return state.Open(cfg.State.Path, state.Options{
		Timeout: 3 * time.Second, HistoryRetention: cfg.State.HistoryRetention, RunRetention: cfg.State.RunRetention,
	})
}

// fail prints an error and returns its exit code.
func fail(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, "error:", err)
	return exitCode(err)
}
