package main

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/clvsync/clvsync/hubspot/fakehub"
)

// Off a terminal a run logs one progress line per phase every
// progressEvery, with counts, rate and ETA.
func TestLogProgress_OffTerminal(t *testing.T) {
	var buf bytes.Buffer
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	lp := &logProgress{log: slog.New(slog.NewTextHandler(&buf, nil)), now: func() time.Time { return now }, every: progressEvery, phases: map[string]*phaseClock{}}
	step := func(d time.Duration, done, total int) {
		now = now.Add(d)
		lp.update("pull", done, total)
	}
	step(0, 0, 1000)
	step(5*time.Second, 100, 1000)
	if buf.Len() != 0 {
		t.Fatalf("logged before %s: %s", progressEvery, buf.String())
	}
	step(5*time.Second, 500, 1000)
	if got := buf.String(); !strings.Contains(got, "phase=pull done=500") || !strings.Contains(got, "total=1000 eta=10s") || !strings.Contains(got, "rate_per_s=50.0") {
		t.Errorf("progress line: %s", got)
	}
	buf.Reset()
	step(3*time.Second, 600, 1000)
	step(7*time.Second, 700, 0)
	if got := buf.String(); strings.Count(got, "progress") != 1 || strings.Contains(got, "eta") {
		t.Errorf("second line (unknown total): %s", got)
	}
}

// On a terminal (a pty here) the demo draws a bar per phase with its
// total and ETA, and no log line lands on a bar line.
func TestRunUI_BarsOnATerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo in a pty")
	}
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty here: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 160}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	read := make(chan struct{})
	go func() {
		defer close(read)
		io.Copy(&out, ptmx)
	}()
	code := run([]string{"demo", "--dir", t.TempDir(), "--contacts", "400", "--log-level", "info"}, tty, tty)
	tty.Close()
	<-read
	if code != exitOK {
		t.Fatalf("demo: exit %d\n%s", code, out.String())
	}
	text := out.String()
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`pull\s+\d+ / \d+`), regexp.MustCompile(`compute\s+\d+ / \d+`), regexp.MustCompile(`write\s+\d+ / \d+`),
		regexp.MustCompile(`ETA`), regexp.MustCompile(`\d+/s`),
	} {
		if !want.MatchString(text) {
			t.Errorf("terminal output lacks %s:\n%s", want, text)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, "msg=") && strings.Contains(line, " / ") && strings.Contains(line, "ETA") {
			t.Errorf("log line on a bar line: %q", line)
		}
	}
}

func TestRunUI_NotATerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// A whole run with output redirected draws nothing.
	_, url := opsFakehub(t, fakehubSmall())
	t.Setenv("HUBSPOT_TOKEN", opsToken)
	cfgPath := opsWriteConfig(t, opsConfig(t, url))
	if code := run([]string{"run", "--config", cfgPath, "--log-level", "error"}, f, f); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	b, _ := os.ReadFile(f.Name())
	if strings.Contains(string(b), "\r") || strings.Contains(string(b), "[###") {
		t.Errorf("progress bar drawn into a file:\n%s", b)
	}
}

func fakehubSmall() fakehub.Config { return fakehub.Config{Contacts: 100} }
