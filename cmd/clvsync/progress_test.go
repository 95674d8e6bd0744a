package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/clvsync/clvsync/hubspot/fakehub"
)

func TestRenderBar(t *testing.T) {
	for _, tt := range []struct {
		name        string
		done, total int
		elapsed     time.Duration
		want        string
	}{
		{"unknown total", 42, 0, time.Second, "pull           42"},
		{"start", 0, 100, 0, "pull           [..............................] 0/100 ETA -"},
		{"half", 50, 100, 10 * time.Second, "pull           [###############...............] 50/100 ETA 10s"},
		{"done", 100, 100, 20 * time.Second, "pull           [##############################] 100/100 ETA -"},
		{"overshoot", 120, 100, time.Second, "pull           [##############################] 120/100 ETA -"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := renderBar("pull", tt.done, tt.total, tt.elapsed); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestNewProgress_NotATerminal(t *testing.T) {
	if newProgress(&bytes.Buffer{}) != nil {
		t.Error("a buffer got a progress bar")
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if newProgress(f) != nil {
		t.Error("a regular file got a progress bar")
	}
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
