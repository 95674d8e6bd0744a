package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"gopkg.in/yaml.v3"

	"github.com/clvsync/clvsync/hubspot/fakehub"
	"github.com/clvsync/clvsync/state"
	"github.com/clvsync/clvsync/sync/config"
	"github.com/clvsync/clvsync/sync/synctest"
)

// reportConfig runs the real job twice, 30 days apart, against fakehub and
// returns the path of a config file pointing at the resulting state file.
func reportConfig(t testing.TB, contacts int) string {
	t.Helper()
	e := synctest.New(t, contacts, 1, func(cfg *config.Config) {
		cfg.Model.Margin, cfg.Model.CostPerOrder, cfg.Companies = 0.4, "15", true
	})
	e.RunMonthly(t, 2)
	cfg, dir := e.Config, filepath.Dir(e.Config.State.Path)
	if err := e.Store.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "clvsync.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunReport(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole job twice")
	}
	cfgPath := reportConfig(t, 800)
	out := filepath.Join(t.TempDir(), "report.html")
	var stdout, stderr bytes.Buffer
	if code := runReport(context.Background(), []string{"--config", cfgPath, "--html", out}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	text := stdout.String()
	for _, want := range []string{"Headline", "historical revenue", "Maximum acquisition cost", "break-even", "at 3:1",
		"Tiers (by total CLV)", "top 20% of customers hold", "RFM segments", "Champions", "Quadrant",
		"Movement since the previous run", "tier transitions", "CLV trend turned falling", "Model quality",
		"CLV by company", "Cost to serve", "HTML report written to"} {
		if !strings.Contains(text, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	html, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`data-chart="distribution"`, `data-chart="tiers"`, `data-chart="rfm"`, `data-chart="quadrant"`,
		`data-chart="acquisition"`, `data-chart="cost"`, `data-chart="backtest"`, "<svg", "Tier transitions", "CLV by company"} {
		if !bytes.Contains(html, []byte(want)) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	// Self-contained: nothing is fetched when the file is opened.
	for _, bad := range []string{"<script", "<link", `src="http`, `href="http`, "@import"} {
		if bytes.Contains(html, []byte(bad)) {
			t.Errorf("HTML contains %q: the report must be self-contained", bad)
		}
	}
	if p := os.Getenv("CLVSYNC_REPORT_PNG"); p != "" {
		// Regenerates the README screenshot: CLVSYNC_REPORT_PNG=$PWD/docs/report.png go test -run TestRunReport ./cmd/clvsync
		if _, err := checkInBrowser(t, out, p); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRunReport_Errors(t *testing.T) {
	dir := t.TempDir()
	cfg := config.DefaultConfig()
	cfg.State.Path = filepath.Join(dir, "missing.db")
	b, _ := yaml.Marshal(cfg)
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := runReport(context.Background(), []string{"--config", path}, &stdout, &stderr); code != exitUsage {
		t.Errorf("missing state file: exit %d, want %d (%s)", code, exitUsage, stderr.String())
	}
	if !strings.Contains(stderr.String(), "state.path") {
		t.Errorf("error does not name state.path: %s", stderr.String())
	}
	if code := runReport(context.Background(), []string{"--bogus"}, &stdout, &stderr); code != exitUsage {
		t.Errorf("bad flag: exit %d", code)
	}
}

func TestGroupDigits(t *testing.T) {
	for in, want := range map[string]string{"0": "0", "999": "999", "1000": "1,000", "-1234567.89": "-1,234,567.89",
		"123456": "123,456", "-0": "0", "-0.00": "0.00"} {
		if got := groupDigits(in); got != want {
			t.Errorf("groupDigits(%q) = %q, want %q", in, got, want)
		}
	}
	if got := money(decimal.RequireFromString("1234.5")); got != "1,235" {
		t.Errorf("money(1234.5) = %q", got)
	}
}

// chromium returns the path of a Chromium binary. Without one the test is
// skipped, except in CI (CI=true), where it fails.
func chromium(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium is not installed, and CI=true requires the browser test: apt-get install chromium (.ci/run does it)")
	}
	t.Skip("Chromium is not installed (apt-get install chromium): skipping the browser test of the HTML report")
	return ""
}

// verdict is what the probe script finds in the rendered page.
type verdict struct {
	Charts []struct {
		Chart, Title string
		W, H         float64
		Nodes        int
	} `json:"charts"`
	Errors []string `json:"errors"`
	Broken int      `json:"broken_images"`
	Height int      `json:"height"`
}

// probe is injected into a copy of the report: it records script errors
// and, once the page is laid out, every chart's title, size and number of
// SVG elements into a <pre id="verdict"> that --dump-dom prints.
const probe = `<script>
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push(String(e.message || e)); });
var __ce = console.error; console.error = function () { window.__errors.push(Array.prototype.join.call(arguments, " ")); __ce.apply(console, arguments); };
</script>`

const probeEnd = `<script>
(function () {
  var charts = Array.prototype.map.call(document.querySelectorAll("figure[data-chart]"), function (f) {
    var s = f.querySelector("svg"), t = s && s.querySelector("title"), r = s ? s.getBoundingClientRect() : {width: 0, height: 0};
    return {chart: f.getAttribute("data-chart"), title: t ? t.textContent : "", w: r.width, h: r.height, nodes: s ? s.querySelectorAll("*").length : 0};
  });
  var broken = Array.prototype.filter.call(document.images, function (i) { return !i.complete || i.naturalWidth === 0; }).length;
  var pre = document.createElement("pre");
  pre.id = "verdict";
  pre.textContent = JSON.stringify({charts: charts, errors: window.__errors, broken_images: broken, height: document.documentElement.scrollHeight});
  document.body.appendChild(pre);
})();
</script>`

// checkInBrowser renders the report in headless Chromium, checks the probe's
// verdict and saves a full-page screenshot to png.
func checkInBrowser(t testing.TB, report, pngPath string) (verdict, error) {
	t.Helper()
	bin := chromium(t)
	src, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	page := strings.Replace(string(src), "<head>", "<head>"+probe, 1)
	page = strings.Replace(page, "</body>", probeEnd+"</body>", 1)
	probed := filepath.Join(t.TempDir(), "probed.html")
	if err := os.WriteFile(probed, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(extra ...string) ([]byte, []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
			"--enable-logging=stderr", "--v=0", "--user-data-dir=" + t.TempDir()}, extra...)
		cmd := exec.CommandContext(ctx, bin, args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %v: %v\n%s", extra, err, errb.String())
		}
		return out.Bytes(), errb.Bytes()
	}
	dom, logs := run("--window-size=1280,1000", "--virtual-time-budget=3000", "--dump-dom", "file://"+probed)
	var v verdict
	i := bytes.Index(dom, []byte(`<pre id="verdict">`))
	if i < 0 {
		t.Fatalf("no verdict in the dumped DOM (%d bytes); chromium said:\n%s", len(dom), logs)
	}
	raw := dom[i+len(`<pre id="verdict">`):]
	raw = raw[:bytes.Index(raw, []byte("</pre>"))]
	raw = bytes.ReplaceAll(bytes.ReplaceAll(bytes.ReplaceAll(raw, []byte("&quot;"), []byte(`"`)), []byte("&lt;"), []byte("<")), []byte("&gt;"), []byte(">"))
	raw = bytes.ReplaceAll(raw, []byte("&amp;"), []byte("&"))
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode verdict %s: %v", raw, err)
	}
	for _, line := range strings.Split(string(logs), "\n") {
		if strings.Contains(line, "CONSOLE") && (strings.Contains(line, "Uncaught") || strings.Contains(line, "ERROR")) {
			v.Errors = append(v.Errors, line)
		}
	}
	height := min(max(v.Height, 1000), 16000)
	run("--window-size=1280,"+strconv.Itoa(height), "--screenshot="+pngPath, "file://"+report)
	f, err := os.Open(pngPath)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 1000 || b.Dy() < 1000 {
		t.Errorf("screenshot is %v", b)
	}
	return v, nil
}

// TestReportHTML_Chromium renders the demo's report in headless Chromium
// and checks, as a person would see it, that every chart drew with its
// title and that the page logged no error.
func TestReportHTML_Chromium(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo and a browser")
	}
	chromium(t) // skip early, before the demo runs
	dir := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := runDemo(context.Background(), []string{"--dir", dir, "--contacts", "1500", "--log-level", "error"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("demo exit %d: %s", code, stderr.String())
	}
	report := filepath.Join(dir, "report.html")
	if _, err := os.Stat(report); err != nil {
		// Until the demo writes its report itself, write it from its state.
		cfg, err := readConfig(filepath.Join(dir, "clvsync.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		store, err := openStore(cfg)
		if err != nil {
			t.Fatal(err)
		}
		report, err = writeReportHTML(context.Background(), store, cfg, dir)
		store.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	v, err := checkInBrowser(t, report, filepath.Join(t.TempDir(), "report.png"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"distribution": "Distribution of total CLV with tier boundaries",
		"tiers":        "Tier share of customers and of value",
		"rfm":          "RFM: average revenue by recency and frequency",
		"quadrant":     "CLV by relationship length: quadrant",
		"acquisition":  "Maximum acquisition cost per new customer by source",
		"cost":         "Cost to serve: revenue, after margin, profit",
		"backtest":     "Backtest: predicted vs actual purchases per decile",
	}
	seen := map[string]bool{}
	for _, c := range v.Charts {
		seen[c.Chart] = true
		if w, ok := want[c.Chart]; ok && c.Title != w {
			t.Errorf("chart %s has title %q, want %q", c.Chart, c.Title, w)
		}
		if c.W < 200 || c.H < 100 || c.Nodes < 10 {
			t.Errorf("chart %s (%q) did not render: %.0fx%.0f px, %d SVG elements", c.Chart, c.Title, c.W, c.H, c.Nodes)
		}
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("chart %s missing from the page", k)
		}
	}
	if len(v.Errors) > 0 || v.Broken > 0 {
		t.Errorf("page errors %q, %d broken images", v.Errors, v.Broken)
	}
}

// The report from a running deployment: serve answers GET /report and
// /report.txt, and `clvsync report` works while serve holds the state file.
func TestReport_WhileServeHoldsTheFile(t *testing.T) {
	_, url := opsFakehub(t, fakehub.Config{})
	cfg := opsConfig(t, url)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Operations.Listen = l.Addr().String()
	l.Close()
	t.Setenv("HUBSPOT_TOKEN", opsToken)
	d := opsDeps(t, cfg, nil)
	addr, _ := opsServe(t, cfg, d, serveOptions{RunNow: true, Listen: cfg.Operations.Listen, Schedule: everySchedule(time.Hour)})
	opsWaitFor(t, 30*time.Second, "the first run", func() bool {
		r, ok, _ := d.Store.LastRun()
		return ok && r.Outcome == state.OutcomeOK
	})
	if code, body := opsGet(t, addr+"/report"); code != http.StatusOK || !strings.Contains(body, "<html") {
		t.Fatalf("/report: %d %.200s", code, body)
	}
	// Its data as JSON, with clvsync's one key style.
	code, body := opsGet(t, addr+"/report.json")
	var data map[string]any
	if code != http.StatusOK || json.Unmarshal([]byte(body), &data) != nil {
		t.Fatalf("/report.json: %d %.200s", code, body)
	}
	for _, k := range []string{"as_of", "headline", "tiers", "acquisition", "customers"} {
		if _, ok := data[k]; !ok {
			t.Errorf("/report.json has no %q", k)
		}
	}
	snakeKeys(t, "", data)
	cfgPath := opsWriteConfig(t, cfg)
	htmlPath := filepath.Join(t.TempDir(), "r.html")
	var out, errb bytes.Buffer
	if code := run([]string{"report", "--config", cfgPath, "--html", htmlPath}, &out, &errb); code != exitOK {
		t.Fatalf("report while serve runs: exit %d\n%s", code, errb.String())
	}
	if !strings.Contains(out.String(), "CLV report as of") || !strings.Contains(out.String(), "Headline") {
		t.Errorf("report output:\n%s", out.String())
	}
	if b, err := os.ReadFile(htmlPath); err != nil || !bytes.Contains(b, []byte("<html")) {
		t.Errorf("HTML report not written: %v", err)
	}
}

// snakeKeys fails for every object key under v that is not snake_case.
func snakeKeys(t *testing.T, path string, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			for _, r := range k {
				if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
					t.Errorf("key %s.%s is not snake_case", path, k)
					break
				}
			}
			snakeKeys(t, path+"."+k, e)
		}
	case []any:
		for _, e := range v {
			snakeKeys(t, path+"[]", e)
		}
	}
}
