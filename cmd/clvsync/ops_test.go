package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/clvsync/clvsync/hubspot/fakehub"
	"github.com/clvsync/clvsync/state"
	hsync "github.com/clvsync/clvsync/sync"
	"github.com/clvsync/clvsync/sync/config"
)

// opsToken is the token the ops tests use; it must never show up in a log.
const opsToken = "pat-na1-7c1f0e2a-OPS-SECRET-9d4b"

// opsFakehub serves a seeded fake portal for the ops tests.
func opsFakehub(t testing.TB, fc fakehub.Config) (*fakehub.Hub, string) {
	t.Helper()
	if fc.Token == "" {
		fc.Token = opsToken
	}
	if fc.Contacts == 0 {
		fc.Contacts = 200
	}
	if fc.Seed == 0 {
		fc.Seed = 7
	}
	if fc.Anchor.IsZero() {
		fc.Anchor = time.Now().UTC().Truncate(24 * time.Hour)
	}
	if fc.LimitScale == 0 {
		fc.LimitScale = 50
	}
	hub, err := fakehub.New(fc)
	if err != nil {
		t.Fatalf("fakehub.New: %v", err)
	}
	srv := httptest.NewServer(hub)
	t.Cleanup(srv.Close)
	return hub, srv.URL
}

// opsConfig is the default config pointed at baseURL, with the state file
// in a temporary folder.
func opsConfig(t testing.TB, baseURL string) config.Config {
	t.Helper()
	cfg := config.DefaultConfig()
	cfg.HubSpot.BaseURL = baseURL
	cfg.State.Path = filepath.Join(t.TempDir(), "clvsync.db")
	cfg.Schedule.GracePeriod = config.Duration(2 * time.Second)
	cfg.Operations.Listen = "off"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	return cfg
}

// opsWriteConfig saves cfg as YAML next to its state file and returns the path.
func opsWriteConfig(t testing.TB, cfg config.Config) string {
	t.Helper()
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(filepath.Dir(cfg.State.Path), "clvsync.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// opsOpen opens the state file and closes it at the end of the test.
func opsOpen(t testing.TB, cfg config.Config) *state.Store {
	t.Helper()
	s, err := state.Open(cfg.State.Path, state.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("open state file: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// opsBuffer is a bytes.Buffer safe for a logger and a test to share.
type opsBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *opsBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *opsBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// opsWaitFor polls cond every 20ms until it holds or timeout passes.
func opsWaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// opsGet fetches url and returns status and body.
func opsGet(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// opsScrape parses a Prometheus text exposition into "name{labels}" ->
// value; label sets appear as written by client_golang (sorted).
func opsScrape(t testing.TB, url string) map[string]float64 {
	t.Helper()
	code, body := opsGet(t, url)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, code, body)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// opsSum adds every series of a metric name.
func opsSum(ms map[string]float64, name string) float64 {
	var sum float64
	for k, v := range ms {
		if k == name || strings.HasPrefix(k, name+"{") {
			sum += v
		}
	}
	return sum
}

func TestExitCodes(t *testing.T) {
	_, url := opsFakehub(t, fakehub.Config{})
	run1 := func(t *testing.T, args ...string) (int, string, string) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code := run(args, &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	t.Run("0 ok", func(t *testing.T) {
		t.Setenv("HUBSPOT_TOKEN", opsToken)
		cfgPath := opsWriteConfig(t, opsConfig(t, url))
		if code, out, errs := run1(t, "run", "--config", cfgPath); code != exitOK {
			t.Fatalf("exit %d, want 0\n%s\n%s", code, out, errs)
		}
	})
	t.Run("1 run failed", func(t *testing.T) {
		t.Setenv("HUBSPOT_TOKEN", opsToken)
		cfgPath := opsWriteConfig(t, opsConfig(t, url))
		if code, out, errs := run1(t, "run", "--config", cfgPath, "--max-changes", "1"); code != exitFailed {
			t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errs)
		}
	})
	t.Run("2 usage", func(t *testing.T) {
		t.Setenv("HUBSPOT_TOKEN", opsToken)
		bad := opsConfig(t, url)
		bad.Schedule.Cron = "every now and then"
		badPath := opsWriteConfig(t, bad)
		for name, args := range map[string][]string{
			"unknown command": {"nope"},
			"unknown flag":    {"run", "--no-such-flag"},
			"missing config":  {"run", "--config", filepath.Join(t.TempDir(), "missing.yaml")},
			"invalid config":  {"run", "--config", badPath},
			"serve bad cron":  {"serve", "--config", badPath},
			"runs bad limit":  {"runs", "--config", badPath, "--limit", "0"},
		} {
			if code, _, errs := run1(t, args...); code != exitUsage {
				t.Errorf("%s: exit %d, want 2\n%s", name, code, errs)
			}
		}
		t.Setenv("HUBSPOT_TOKEN", "")
		good := opsWriteConfig(t, opsConfig(t, url))
		if code, _, errs := run1(t, "run", "--config", good); code != exitUsage {
			t.Errorf("no token: exit %d, want 2\n%s", code, errs)
		}
	})
	t.Run("4 token refused", func(t *testing.T) {
		t.Setenv("HUBSPOT_TOKEN", "pat-na1-wrong")
		cfgPath := opsWriteConfig(t, opsConfig(t, url))
		if code, out, errs := run1(t, "run", "--config", cfgPath); code != exitAuth {
			t.Fatalf("exit %d, want 4\n%s\n%s", code, out, errs)
		}
	})
	t.Run("4 missing scopes", func(t *testing.T) {
		t.Setenv("HUBSPOT_TOKEN", opsToken)
		_, u := opsFakehub(t, fakehub.Config{Faults: fakehub.Faults{DenyScopes: []string{"crm.objects.deals.read"}}})
		cfgPath := opsWriteConfig(t, opsConfig(t, u))
		if code, out, errs := run1(t, "run", "--config", cfgPath); code != exitAuth {
			t.Fatalf("exit %d, want 4\n%s\n%s", code, out, errs)
		}
	})
	t.Run("5 daily limit", func(t *testing.T) {
		t.Setenv("HUBSPOT_TOKEN", opsToken)
		_, u := opsFakehub(t, fakehub.Config{DailyLimit: 4, LimitScale: 1})
		cfgPath := opsWriteConfig(t, opsConfig(t, u))
		if code, out, errs := run1(t, "run", "--config", cfgPath); code != exitDailyLimit {
			t.Fatalf("exit %d, want 5\n%s\n%s", code, out, errs)
		}
	})
	// Exit 3 (state file locked) needs a second process: see TestBinary.
}

func TestRunsAndStatus(t *testing.T) {
	t.Setenv("HUBSPOT_TOKEN", opsToken)
	_, url := opsFakehub(t, fakehub.Config{})
	cfg := opsConfig(t, url)
	cfg.Schedule.FullResync = "@weekly"
	cfg.Companies = true
	cfgPath := opsWriteConfig(t, cfg)
	var out, errs bytes.Buffer
	if code := run([]string{"runs", "--config", cfgPath}, &out, &errs); code != exitUsage {
		t.Fatalf("runs before any run: exit %d, want 2 (no state file)\n%s", code, errs.String())
	}
	for i := 0; i < 2; i++ {
		if code := run([]string{"run", "--config", cfgPath}, io.Discard, &errs); code != exitOK {
			t.Fatalf("run: exit %d\n%s", code, errs.String())
		}
	}
	out.Reset()
	if code := run([]string{"runs", "--config", cfgPath}, &out, &errs); code != exitOK {
		t.Fatalf("runs: exit %d\n%s", code, errs.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "RUN") || !strings.Contains(lines[1], "incremental") ||
		!strings.Contains(lines[2], "full") || !strings.Contains(lines[2], " ok ") {
		t.Fatalf("runs output:\n%s", out.String())
	}
	out.Reset()
	if code := run([]string{"runs", "--config", cfgPath, "--json", "--limit", "1"}, &out, &errs); code != exitOK {
		t.Fatalf("runs --json: exit %d\n%s", code, errs.String())
	}
	var runs []state.Run
	if err := json.Unmarshal(out.Bytes(), &runs); err != nil || len(runs) != 1 || runs[0].ID != 2 {
		t.Fatalf("runs --json: %v %+v", err, runs)
	}
	assertSnakeKeys(t, "runs --json", out.Bytes())
	out.Reset()
	if code := run([]string{"status", "--config", cfgPath}, &out, &errs); code != exitOK {
		t.Fatalf("status: exit %d\n%s", code, errs.String())
	}
	for _, want := range []string{"#2 incremental ok", "Next run", "Full resync", "complete, started",
		"private-apps-api-calls-daily", "live", "companies: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if code := run([]string{"status", "--config", cfgPath, "--offline", "--json"}, &out, &errs); code != exitOK {
		t.Fatalf("status --json: exit %d\n%s", code, errs.String())
	}
	assertSnakeKeys(t, "status --json", out.Bytes())
	var st statusInfo
	if err := json.Unmarshal(out.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if st.LastRun == nil || st.LastRun.ID != 2 || st.NextRun == nil || st.NextFull == nil || len(st.Cursors) != len(hsync.CursorNames()) || st.Cursors[0].Time.IsZero() {
		t.Fatalf("status: %+v", st)
	}
}

func TestConsecutiveFailures(t *testing.T) {
	r := func(outcome state.Outcome) state.Run { return state.Run{Outcome: outcome} }
	for _, tt := range []struct {
		name string
		runs []state.Run
		want int
	}{
		{"none", nil, 0},
		{"last ok", []state.Run{r("ok"), r("failed")}, 0},
		{"two failed", []state.Run{r("failed"), r("failed"), r("ok"), r("failed")}, 2},
		{"interrupted and running are neutral", []state.Run{r("running"), r("failed"), r("interrupted"), r("failed"), r("ok")}, 2},
		{"dry runs are neutral", []state.Run{{Outcome: "ok", DryRun: true}, r("failed")}, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := consecutiveFailures(tt.runs); got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestServeURL(t *testing.T) {
	for in, want := range map[string]string{"127.0.0.1:9090": "http://127.0.0.1:9090", ":9090": "http://127.0.0.1:9090",
		"0.0.0.0:80": "http://127.0.0.1:80", "off": "", "": ""} {
		got, _ := serveURL(in)
		if got != want {
			t.Errorf("serveURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// assertSnakeKeys checks that every key of a JSON document is snake_case:
// one key style across clvsync's JSON outputs.
func assertSnakeKeys(t *testing.T, what string, raw []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	snake := regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				if !snake.MatchString(k) {
					t.Errorf("%s: key %q at %s is not snake_case", what, k, path)
				}
				walk(c, path+"."+k)
			}
		case []any:
			for _, c := range x {
				walk(c, path+"[]")
			}
		}
	}
	walk(v, "")
}
