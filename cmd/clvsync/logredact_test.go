package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/clvsync/clvsync/hubspot/fakehub"
)

func TestRedactLogger(t *testing.T) {
	var buf bytes.Buffer
	l := redactLogger(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), opsToken)
	err := fmt.Errorf("call failed: %w", errors.New("Authorization: Bearer "+opsToken))
	l.With("token", opsToken).WithGroup("g").Debug("message with "+opsToken, "err", err, "n", 3,
		slog.Group("inner", "s", "x"+opsToken), "any", struct{ T string }{opsToken}, "clean", struct{ N int }{4})
	out := buf.String()
	if strings.Contains(out, opsToken) {
		t.Fatalf("token in log: %s", out)
	}
	if !strings.Contains(out, "[REDACTED]") || !strings.Contains(out, `"clean":{"N":4}`) || !strings.Contains(out, `"n":3`) {
		t.Fatalf("unexpected log: %s", out)
	}
	if redactLogger(l, "") != l {
		t.Error("an empty secret should leave the logger alone")
	}
}

// TestLogs_NoToken greps every log line of full runs at debug level
// (`run`, a run whose token is refused, and `serve`) for the token.
func TestLogs_NoToken(t *testing.T) {
	_, url := opsFakehub(t, fakehub.Config{})
	cfg := opsConfig(t, url)
	cfgPath := opsWriteConfig(t, cfg)
	check := func(t *testing.T, name, logs string) {
		t.Helper()
		lines := strings.Split(strings.TrimSpace(logs), "\n")
		debug := 0
		for _, line := range lines {
			if strings.Contains(line, opsToken) {
				t.Errorf("%s: token in log line: %s", name, line)
			}
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				continue // the final "error: ..." line is plain text
			}
			if rec["level"] == "DEBUG" {
				debug++
			}
		}
		if debug < 10 {
			t.Errorf("%s: only %d debug lines in %d; is debug logging on?", name, debug, len(lines))
		}
	}
	t.Run("run", func(t *testing.T) {
		t.Setenv("HUBSPOT_TOKEN", opsToken)
		var stdout, stderr bytes.Buffer
		if code := run([]string{"run", "--config", cfgPath, "--log-level", "debug", "--log-format", "json"}, &stdout, &stderr); code != exitOK {
			t.Fatalf("exit %d\n%s", code, stderr.String())
		}
		check(t, "run", stderr.String())
		if strings.Contains(stdout.String(), opsToken) {
			t.Error("token on stdout")
		}
	})
	t.Run("token refused", func(t *testing.T) {
		_, url2 := opsFakehub(t, fakehub.Config{Token: "pat-na1-the-right-one"})
		cfgPath := opsWriteConfig(t, opsConfig(t, url2))
		t.Setenv("HUBSPOT_TOKEN", opsToken)
		var stdout, stderr bytes.Buffer
		if code := run([]string{"run", "--config", cfgPath, "--log-level", "debug", "--log-format", "json"}, &stdout, &stderr); code != exitAuth {
			t.Fatalf("exit %d\n%s", code, stderr.String())
		}
		if strings.Contains(stderr.String()+stdout.String(), opsToken) {
			t.Errorf("token in output:\n%s", stderr.String())
		}
	})
	t.Run("serve", func(t *testing.T) {
		t.Setenv("HUBSPOT_TOKEN", opsToken)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var stdout, stderr opsBuffer
		done := make(chan int, 1)
		go func() {
			done <- runServe(ctx, func() {}, []string{"--config", cfgPath, "--run-now", "--log-level", "debug", "--log-format", "json", "--no-http"}, &stdout, &stderr)
		}()
		opsWaitFor(t, 20*time.Second, "the run to end", func() bool { return strings.Contains(stderr.String(), `"msg":"run end"`) })
		cancel()
		if code := <-done; code != exitOK {
			t.Fatalf("serve exit %d\n%s", code, stderr.String())
		}
		check(t, "serve", stderr.String())
	})
}
