package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/clvsync/clvsync/hubspot/fakehub"
	"github.com/clvsync/clvsync/state"
	hsync "github.com/clvsync/clvsync/sync"
	"github.com/clvsync/clvsync/sync/config"
)

// everySchedule fires every d; cron's own "@every" rounds to seconds.
type everySchedule time.Duration

func (e everySchedule) Next(t time.Time) time.Time { return t.Add(time.Duration(e)) }

// opsServe starts serve in the background. stop cancels its context and
// returns serve's error and how long shutting down took.
func opsServe(t *testing.T, cfg config.Config, d serveDeps, o serveOptions) (addr string, stop func() (error, time.Duration)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	o.OnListen = func(a string) { addrc <- a }
	errc := make(chan error, 1)
	go func() { errc <- serve(ctx, cfg, d, o) }()
	select {
	case addr = <-addrc:
	case err := <-errc:
		t.Fatalf("serve: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not listen")
	}
	var once sync.Once
	var err error
	var took time.Duration
	stop = func() (error, time.Duration) {
		once.Do(func() {
			start := time.Now()
			cancel()
			select {
			case err = <-errc:
			case <-time.After(15 * time.Second):
				err = errors.New("serve did not return")
			}
			took = time.Since(start)
		})
		return err, took
	}
	t.Cleanup(func() { stop() })
	return "http://" + addr, stop
}

// opsDeps builds serve's real dependencies and closes the store at the end.
func opsDeps(t *testing.T, cfg config.Config, logger *slog.Logger) serveDeps {
	t.Helper()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	d, err := newServeDeps(cfg, opsToken, logger)
	if err != nil {
		t.Fatalf("newServeDeps: %v", err)
	}
	t.Cleanup(func() { d.Store.Close() })
	return d
}

func TestParseSchedules(t *testing.T) {
	from := time.Date(2026, 3, 2, 10, 30, 0, 0, time.UTC)
	for _, tt := range []struct {
		cron, full, tz string
		want           time.Time
		wantFull       time.Time
		wantErr        bool
	}{
		{cron: "0 */6 * * *", tz: "UTC", want: time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)},
		{cron: "@every 6h", want: from.Add(6 * time.Hour)},
		{cron: "@daily", full: "@weekly", tz: "UTC", want: time.Date(2026, 3, 3, 0, 0, 0, 0, time.UTC),
			wantFull: time.Date(2026, 3, 8, 0, 0, 0, 0, time.UTC)},
		// 06:00 in Berlin (UTC+1 in March before the switch) is 05:00 UTC.
		{cron: "0 6 * * *", tz: "Europe/Berlin", want: time.Date(2026, 3, 3, 5, 0, 0, 0, time.UTC)},
		{cron: "every day", tz: "UTC", wantErr: true},
		{cron: "@daily", tz: "Mars/Olympus", wantErr: true},
		{cron: "@daily", full: "sometimes", wantErr: true},
	} {
		t.Run(tt.cron+"/"+tt.full+"/"+tt.tz, func(t *testing.T) {
			inc, full, loc, err := parseSchedules(config.ScheduleConfig{Cron: tt.cron, FullResync: tt.full, TimeZone: tt.tz})
			if tt.wantErr {
				if err == nil {
					t.Fatal("want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := inc.Next(from.In(loc)); !got.Equal(tt.want) {
				t.Errorf("next = %s, want %s", got.UTC(), tt.want)
			}
			if (full == nil) != tt.wantFull.IsZero() {
				t.Fatalf("full schedule = %v, want %v", full, tt.wantFull)
			}
			if full != nil && !full.Next(from.In(loc)).Equal(tt.wantFull) {
				t.Errorf("next full = %s, want %s", full.Next(from.In(loc)).UTC(), tt.wantFull)
			}
		})
	}
}

// TestServe_NeverOverlaps drives serve with fast schedules and a run that
// takes longer than the interval: runs must never overlap, the skipped ones
// are counted, and a full resync that falls due during a run is done next.
func TestServe_NeverOverlaps(t *testing.T) {
	cfg := opsConfig(t, "http://127.0.0.1:1")
	store := opsOpen(t, cfg)
	var inFlight, maxInFlight, started, fulls atomic.Int32
	run := func(ctx context.Context, o hsync.RunOptions) (hsync.Summary, error) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		started.Add(1)
		if o.Full {
			fulls.Add(1)
		}
		select {
		case <-time.After(150 * time.Millisecond):
			return hsync.Summary{Mode: "incremental", Duration: 150 * time.Millisecond}, nil
		case <-ctx.Done():
			return hsync.Summary{}, ctx.Err()
		}
	}
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	_, stop := opsServe(t, cfg, serveDeps{Store: store, Run: run, Metrics: m, Gatherer: reg},
		serveOptions{RunNow: true, Schedule: everySchedule(40 * time.Millisecond), FullSchedule: everySchedule(230 * time.Millisecond)})
	opsWaitFor(t, 5*time.Second, "5 runs", func() bool { return started.Load() >= 5 })
	if err, took := stop(); err != nil || took > time.Second {
		t.Fatalf("stop: %v after %s", err, took)
	}
	if got := maxInFlight.Load(); got != 1 {
		t.Fatalf("%d runs overlapped", got)
	}
	if fulls.Load() == 0 {
		t.Error("the full resync schedule never led to a full run")
	}
	ms := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "clvsync_runs_total" {
			for _, s := range mf.GetMetric() {
				ms[s.GetLabel()[0].GetValue()] = s.GetCounter().GetValue()
			}
		}
	}
	if ms[string(outcomeSkipped)] == 0 || ms[string(state.OutcomeOK)] != float64(started.Load()) {
		t.Errorf("runs_total = %v, started %d; want skips counted and every started run ok", ms, started.Load())
	}
}

// TestServe_Metrics runs once against fakehub and checks the named series.
func TestServe_Metrics(t *testing.T) {
	hub, url := opsFakehub(t, fakehub.Config{})
	cfg := opsConfig(t, url)
	d := opsDeps(t, cfg, nil)
	addr, stop := opsServe(t, cfg, d, serveOptions{RunNow: true})
	var ms map[string]float64
	opsWaitFor(t, 20*time.Second, "a finished run and the daily usage", func() bool {
		ms = opsScrape(t, addr+"/metrics")
		// run_in_progress drops last, when the job returns.
		return ms[`clvsync_runs_total{outcome="ok"}`] == 1 && ms[`clvsync_api_daily_usage{name="private-apps-api-calls-daily"}`] > 0 &&
			ms[`clvsync_run_in_progress`] == 0
	})
	last, ok, err := d.Store.LastRun()
	if err != nil || !ok {
		t.Fatalf("last run: %v %v", ok, err)
	}
	st := hub.Stats()
	tiers, segments := 0, 0
	if err := d.Store.ForEachResult(func(r state.Result) error {
		if r.Tier != "" {
			tiers++
		}
		if r.Segment != "" {
			segments++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		`clvsync_runs_total{outcome="failed"}`:            0,
		`clvsync_run_duration_seconds_count{mode="full"}`: 1,
		`clvsync_values_written_total`:                    float64(last.Counts["written"]),
		`clvsync_values_changed_total`:                    float64(last.Counts["changed"]),
		`clvsync_values_failed_total`:                     0,
		`clvsync_pulled_total{object="deals"}`:            float64(last.Counts["deals_pulled"]),
		`clvsync_pulled_total{object="contacts"}`:         float64(last.Counts["contacts_pulled"]),
		`clvsync_consecutive_failed_runs`:                 0,
		`clvsync_run_in_progress`:                         0,
		`clvsync_build_info{goversion="` + runtime.Version() + `",revision="` + readBuildInfo().Revision + `",version="` + readBuildInfo().Version + `"}`: 1,
		`clvsync_last_success_timestamp_seconds`:                       unixSeconds(last.End),
		`clvsync_api_daily_limit{name="private-apps-api-calls-daily"}`: 0, // checked below
	} {
		got, present := ms[name]
		if !present {
			t.Errorf("%s missing", name)
			continue
		}
		if strings.HasPrefix(name, "clvsync_api_daily_limit") {
			if got <= 0 {
				t.Errorf("%s = %v, want > 0", name, got)
			}
			continue
		}
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if last.Counts["written"] == 0 || float64(st.RecordsWritten) != ms[`clvsync_values_written_total`] {
		t.Errorf("written: fakehub %d, metric %v", st.RecordsWritten, ms[`clvsync_values_written_total`])
	}
	if got := opsSum(ms, "clvsync_api_requests_total"); got != float64(st.TotalRequests) {
		t.Errorf("api requests: metric %v, fakehub served %d", got, st.TotalRequests)
	}
	if ms[`clvsync_api_requests_total{endpoint="objects.batch_update",status="200"}`] == 0 {
		t.Errorf("no batch_update requests counted: %v", ms)
	}
	if got := opsSum(ms, "clvsync_contacts_by_tier"); got != float64(tiers) || tiers == 0 {
		t.Errorf("contacts by tier sum %v, store %d", got, tiers)
	}
	if got := opsSum(ms, "clvsync_contacts_by_segment"); got != float64(segments) {
		t.Errorf("contacts by segment sum %v, store %d", got, segments)
	}
	for _, name := range []string{"clvsync_rate_limit_waits_total", "clvsync_rate_limit_wait_seconds_total",
		`clvsync_next_run_timestamp_seconds{schedule="incremental"}`, "clvsync_api_request_duration_seconds_count"} {
		if _, ok := ms[name]; !ok && opsSum(ms, name) == 0 {
			t.Errorf("%s missing", name)
		}
	}
	if code, body := opsGet(t, addr+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %s", code, body)
	}
	if code, body := opsGet(t, addr+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz: %d %s", code, body)
	}
	code, body := opsGet(t, addr+"/status")
	var st2 statusInfo
	if code != http.StatusOK || json.Unmarshal([]byte(body), &st2) != nil || st2.LastRun == nil || st2.LastRun.ID != last.ID || st2.NextRun == nil {
		t.Errorf("/status: %d %s", code, body)
	}
	if err, _ := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestServe_ReadyzAfterFailures: /readyz fails once
// operations.unready_after_failures runs failed in a row, and recovers after
// a successful run.
func TestServe_ReadyzAfterFailures(t *testing.T) {
	hub, url := opsFakehub(t, fakehub.Config{Faults: fakehub.Faults{RevokeToken: true}})
	cfg := opsConfig(t, url)
	cfg.Operations.UnreadyFailures = 2
	d := opsDeps(t, cfg, nil)
	addr, _ := opsServe(t, cfg, d, serveOptions{Schedule: everySchedule(150 * time.Millisecond)})
	if code, body := opsGet(t, addr+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz before any run: %d %s", code, body)
	}
	opsWaitFor(t, 10*time.Second, "/readyz to fail", func() bool {
		code, _ := opsGet(t, addr+"/readyz")
		return code == http.StatusServiceUnavailable
	})
	_, body := opsGet(t, addr+"/readyz")
	if !strings.Contains(body, "runs failed in a row") || strings.Contains(body, opsToken) {
		t.Errorf("/readyz body: %s", body)
	}
	runs, err := d.Store.Runs(0)
	if err != nil {
		t.Fatal(err)
	}
	if consecutiveFailures(runs) < 2 {
		t.Fatalf("store has %d failures in a row", consecutiveFailures(runs))
	}
	// The run log is written inside the run; the metrics just after it.
	opsWaitFor(t, 5*time.Second, "failure metrics", func() bool {
		ms := opsScrape(t, addr+"/metrics")
		return ms[`clvsync_runs_total{outcome="failed"}`] >= 2 && ms["clvsync_consecutive_failed_runs"] >= 2
	})
	if err := hub.SetFaults(fakehub.Faults{}); err != nil {
		t.Fatal(err)
	}
	opsWaitFor(t, 15*time.Second, "/readyz to recover", func() bool {
		code, _ := opsGet(t, addr+"/readyz")
		return code == http.StatusOK
	})
}

// TestServe_GracefulShutdownMidRun cancels serve during a slow full sync:
// serve returns within the grace period, the run is recorded as
// interrupted, the store reopens, and the next run continues the full sync.
func TestServe_GracefulShutdownMidRun(t *testing.T) {
	// 1,000 contacts: about 33 deal pages, more than one listing group.
	hub, url := opsFakehub(t, fakehub.Config{Contacts: 1000, Faults: fakehub.Faults{Slow: 1, SlowDelay: 60 * time.Millisecond}})
	cfg := opsConfig(t, url)
	cfg.Schedule.GracePeriod = config.Duration(time.Second)
	d := opsDeps(t, cfg, nil)
	_, stop := opsServe(t, cfg, d, serveOptions{RunNow: true, Listen: "127.0.0.1:0"})
	opsWaitFor(t, 20*time.Second, "a stored page of the full sync", func() bool {
		c, err := d.Store.Cursor("deals.full")
		return err == nil && c.After != "" && c.After != "start" && c.After != "done"
	})
	err, took := stop()
	if err != nil {
		t.Fatalf("serve: %v", err)
	}
	if took > 1500*time.Millisecond {
		t.Errorf("shutdown took %s, grace period is 1s", took)
	}
	last, _, err := d.Store.LastRun()
	if err != nil || last.Outcome != state.OutcomeInterrupted {
		t.Fatalf("last run %+v, %v; want interrupted", last, err)
	}
	if err := d.Store.Close(); err != nil {
		t.Fatal(err)
	}
	if err := hub.SetFaults(fakehub.Faults{}); err != nil {
		t.Fatal(err)
	}
	d2 := opsDeps(t, cfg, nil) // reopens the state file
	rep, err := d2.Run(context.Background(), hsync.RunOptions{})
	if err != nil {
		t.Fatalf("next run: %v", err)
	}
	if !strings.Contains(rep.Reason, "continuing an interrupted full sync") {
		t.Errorf("next run reason %q, want it to continue the full sync", rep.Reason)
	}
	if c, _ := d2.Store.Cursor("deals.full"); c.After != "done" {
		t.Errorf("deals.full cursor %+v after the next run", c)
	}
}

// opsBuild builds the clvsync binary into dir.
func opsBuild(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "clvsync")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestBinary checks what needs a real process: the state-file lock (exit
// 3), SIGTERM mid-run, and a second signal.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := opsBuild(t)
	start := func(t *testing.T, cfgPath string, args ...string) (*exec.Cmd, *opsBuffer) {
		t.Helper()
		var out opsBuffer
		cmd := exec.Command(bin, append([]string{"serve", "--config", cfgPath}, args...)...)
		cmd.Env = append(os.Environ(), "HUBSPOT_TOKEN="+opsToken)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		return cmd, &out
	}
	oneShot := func(t *testing.T, cfgPath string, args ...string) (int, string) {
		t.Helper()
		cmd := exec.Command(bin, append(args, "--config", cfgPath)...)
		cmd.Env = append(os.Environ(), "HUBSPOT_TOKEN="+opsToken)
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	wait := func(cmd *exec.Cmd, timeout time.Duration) (time.Duration, error) {
		start := time.Now()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			return time.Since(start), err
		case <-time.After(timeout):
			_ = cmd.Process.Kill()
			return time.Since(start), fmt.Errorf("still running after %s", timeout)
		}
	}
	// midRun waits until the serve child has stored at least one page of
	// its full sync (2 deal list requests served).
	midRun := func(t *testing.T, hub *fakehub.Hub) {
		opsWaitFor(t, 20*time.Second, "the child to be mid-run", func() bool {
			n := int64(0)
			for k, v := range hub.Stats().Requests {
				if k == "GET /crm/objects/2026-09/{objectType}" || k == "GET /crm/v3/objects/{objectType}" {
					n += v
				}
			}
			return n >= 2
		})
	}

	t.Run("locked state file exits 3; runs and status ask serve", func(t *testing.T) {
		_, url := opsFakehub(t, fakehub.Config{})
		cfg := opsConfig(t, url)
		cfg.Operations.Listen = opsFreeAddr(t)
		cfgPath := opsWriteConfig(t, cfg)
		_, out := start(t, cfgPath, "--run-now")
		opsWaitFor(t, 20*time.Second, "the first run", func() bool { return strings.Contains(out.String(), `"msg":"run end"`) })
		if code, text := oneShot(t, cfgPath, "run"); code != exitLocked {
			t.Fatalf("run while serve holds the lock: exit %d, want 3\n%s", code, text)
		}
		if code, text := oneShot(t, cfgPath, "status", "--offline"); code != exitOK || !strings.Contains(text, "clvsync serve (pid") {
			t.Errorf("status while serve runs: exit %d\n%s", code, text)
		}
		if code, text := oneShot(t, cfgPath, "runs"); code != exitOK || !strings.Contains(text, " ok ") {
			t.Errorf("runs while serve runs: exit %d\n%s", code, text)
		}
	})

	t.Run("SIGTERM mid-run checkpoints and the next run continues", func(t *testing.T) {
		// 1,000 contacts: about 33 deal pages, more than one listing group.
		hub, url := opsFakehub(t, fakehub.Config{Contacts: 1000, Faults: fakehub.Faults{Slow: 1, SlowDelay: 60 * time.Millisecond}})
		cfg := opsConfig(t, url)
		cfg.Schedule.GracePeriod = config.Duration(time.Second)
		cfgPath := opsWriteConfig(t, cfg)
		cmd, out := start(t, cfgPath, "--run-now")
		midRun(t, hub)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		took, err := wait(cmd, 5*time.Second)
		if err != nil || took > 1500*time.Millisecond {
			t.Fatalf("after SIGTERM: %v, %s\n%s", err, took, out.String())
		}
		s := opsOpen(t, cfg)
		last, _, err := s.LastRun()
		if err != nil || last.Outcome != state.OutcomeInterrupted {
			t.Fatalf("last run %+v %v", last, err)
		}
		s.Close()
		_ = hub.SetFaults(fakehub.Faults{})
		code, text := oneShot(t, cfgPath, "run")
		if code != exitOK || !strings.Contains(text, "continuing an interrupted full sync") {
			t.Fatalf("next run: exit %d\n%s", code, text)
		}
	})

	t.Run("second signal exits at once, store consistent", func(t *testing.T) {
		// 1,000 contacts: about 33 deal pages, more than one listing group.
		hub, url := opsFakehub(t, fakehub.Config{Contacts: 1000, Faults: fakehub.Faults{Slow: 1, SlowDelay: 60 * time.Millisecond}})
		cfg := opsConfig(t, url)
		cfg.Schedule.GracePeriod = config.Duration(20 * time.Second)
		cfgPath := opsWriteConfig(t, cfg)
		cmd, out := start(t, cfgPath, "--run-now")
		midRun(t, hub)
		_ = cmd.Process.Signal(syscall.SIGTERM)
		opsWaitFor(t, 5*time.Second, "the shutdown to begin", func() bool { return strings.Contains(out.String(), "shutting down") })
		_ = cmd.Process.Signal(syscall.SIGTERM)
		took, _ := wait(cmd, 5*time.Second)
		if took > 2*time.Second {
			t.Fatalf("second signal: exited after %s, grace period is 20s\n%s", took, out.String())
		}
		s := opsOpen(t, cfg)
		if _, err := s.Counts(); err != nil {
			t.Fatalf("store after a hard exit: %v", err)
		}
		s.Close()
		_ = hub.SetFaults(fakehub.Faults{})
		code, text := oneShot(t, cfgPath, "run")
		if code != exitOK || !strings.Contains(text, "continuing an interrupted full sync") {
			t.Fatalf("next run: exit %d\n%s", code, text)
		}
	})
}

// opsFreeAddr returns a loopback address that was free a moment ago.
func opsFreeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// ensure cron stays imported for everySchedule's interface check.
var _ cron.Schedule = everySchedule(0)

// A panic in a scheduled job must not stop later runs (measured: cron's
// skip-if-running slot stayed taken and no run ever ran again while
// /readyz said ready).
func TestServe_PanicDoesNotStopTheSchedule(t *testing.T) {
	cfg := opsConfig(t, "http://127.0.0.1:1")
	store := opsOpen(t, cfg)
	var started atomic.Int32
	run := func(ctx context.Context, o hsync.RunOptions) (hsync.Summary, error) {
		if started.Add(1) == 1 {
			panic("boom")
		}
		return hsync.Summary{Mode: "incremental"}, nil
	}
	_, stop := opsServe(t, cfg, serveDeps{Store: store, Run: run}, serveOptions{Schedule: everySchedule(40 * time.Millisecond)})
	opsWaitFor(t, 5*time.Second, "3 runs after a panic", func() bool { return started.Load() >= 3 })
	stop()
}

// A run blocked by the circuit breaker makes /readyz not ready and sets
// clvsync_breaker_tripped, until a run writes again.
func TestServe_BlockedRunIsNotReady(t *testing.T) {
	cfg := opsConfig(t, "http://127.0.0.1:1")
	store := opsOpen(t, cfg)
	var block atomic.Bool
	block.Store(true)
	run := func(ctx context.Context, o hsync.RunOptions) (hsync.Summary, error) {
		r, err := store.BeginRun(state.Run{Mode: "incremental"})
		if err != nil {
			return hsync.Summary{}, err
		}
		var runErr error
		if block.Load() {
			runErr = fmt.Errorf("%w: max_halved: 90 of 100", hsync.ErrBlocked)
		}
		r.Outcome = hsync.Outcome(runErr)
		if runErr != nil {
			r.Error = runErr.Error()
		}
		if err := store.FinishRun(r); err != nil {
			return hsync.Summary{}, err
		}
		return hsync.Summary{RunID: r.ID, Mode: "incremental"}, runErr
	}
	reg := prometheus.NewRegistry()
	addr, stop := opsServe(t, cfg, serveDeps{Store: store, Run: run, Metrics: newMetrics(reg), Gatherer: reg},
		serveOptions{Schedule: everySchedule(50 * time.Millisecond)})
	defer stop()
	opsWaitFor(t, 5*time.Second, "/readyz not ready after a blocked run", func() bool {
		code, _ := opsGet(t, addr+"/readyz")
		return code == http.StatusServiceUnavailable
	})
	if _, body := opsGet(t, addr+"/readyz"); !strings.Contains(body, "circuit breaker") || !strings.Contains(body, "--accept-changes") {
		t.Errorf("/readyz body: %s", body)
	}
	opsWaitFor(t, 5*time.Second, "breaker metric", func() bool {
		ms := opsScrape(t, addr+"/metrics")
		return ms["clvsync_breaker_tripped"] == 1 && ms[`clvsync_runs_total{outcome="blocked"}`] >= 1
	})
	block.Store(false)
	opsWaitFor(t, 5*time.Second, "/readyz ready after a run wrote", func() bool {
		code, _ := opsGet(t, addr+"/readyz")
		return code == http.StatusOK
	})
}
