package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/robfig/cron/v3"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/state"
	hsync "github.com/clvsync/clvsync/sync"
	"github.com/clvsync/clvsync/sync/config"
)

// errShutdown is the cause given to a run's context when the grace period
// runs out during shutdown.
var errShutdown = errors.New("shutting down: grace period over")

// errGraceExpired is returned by serve when the run in progress did not
// return within the grace period. The store must then not be closed (Close
// would wait for the run's transaction); bbolt keeps the file consistent
// when the process simply exits.
var errGraceExpired = errors.New("the run in progress did not stop within schedule.grace_period")

func runServe(ctx context.Context, stop context.CancelFunc, args []string, stdout, stderr io.Writer) int {
	var cf commonFlags
	fs := newFlags("serve", stderr, "serve --config FILE [--run-now] [--listen ADDR | --no-http]")
	cf.register(fs)
	runNow := fs.Bool("run-now", false, "start one run at boot, then follow the schedule")
	listen := fs.String("listen", "", `address for /healthz, /readyz and /metrics (default: operations.listen; "off" disables)`)
	noHTTP := fs.Bool("no-http", false, "serve no HTTP endpoint")
	if code, ok := parseArgs(fs, args, stdout); !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "serve takes no arguments (got %q)\n", fs.Args())
		return exitUsage
	}
	cfg, err := cf.loadConfig()
	if err != nil {
		return fail(stderr, err)
	}
	token, err := cfg.Token(os.Getenv)
	if err != nil {
		return fail(stderr, config.Problems{{Key: "HUBSPOT_TOKEN", Msg: err.Error()}})
	}
	logger := newLogger(stderr, cfg.Operations, token)
	addr := cfg.Operations.Listen
	if *listen != "" {
		addr = *listen
	}
	if *noHTTP {
		addr = ""
	}
	deps, err := newServeDeps(cfg, token, logger)
	if err != nil {
		return fail(stderr, err)
	}
	store := deps.Store
	err = serve(ctx, cfg, deps, serveOptions{RunNow: *runNow, Listen: addr, OnShutdown: stop})
	if errors.Is(err, errGraceExpired) {
		logger.Error("exiting without closing the state file", "err", err)
		return exitFailed
	}
	if cerr := store.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		logger.Error("serve stopped", "err", err)
		return fail(stderr, err)
	}
	logger.Info("serve stopped")
	return exitOK
}

// newServeDeps opens the store and builds the client (reporting every HTTP
// attempt to the metrics), the runner and a registry of serve's own. The
// caller closes deps.Store.
func newServeDeps(cfg config.Config, token string, logger *slog.Logger) (serveDeps, error) {
	store, err := openStore(cfg)
	if err != nil {
		return serveDeps{}, err
	}
	reg := prometheus.NewRegistry()
	m := newMetrics(reg)
	client, err := newClient(cfg, token, logger, m.observeRequest)
	if err != nil {
		store.Close()
		return serveDeps{}, err
	}
	runner := &hsync.Runner{Client: hsync.NewHubSpot(client), Store: store, Config: cfg, Logger: logger, PullGCPercent: pullGCPercent(), ComputeGCPercent: computeGCPercent()}
	d := serveDeps{Store: store, Run: runner.Run, DailyUsage: client.Account.DailyUsage,
		Logger: logger, Metrics: m, Gatherer: reg}
	if cfg.Webhooks.Enabled {
		if d.WebhookSecret, err = cfg.WebhookSecret(os.Getenv); err != nil {
			store.Close()
			return serveDeps{}, config.Problems{{Key: "webhooks.enabled", Msg: err.Error(), Fix: "set HUBSPOT_CLIENT_SECRET or webhooks.client_secret_file"}}
		}
	}
	return d, nil
}

// serveDeps are the dependencies of serve, built by runServe or a test.
type serveDeps struct {
	// Store is open; serve reads it for /readyz, /status and metrics and
	// leaves closing it to the caller.
	Store *state.Store
	// Run performs one run (sync.Runner.Run in production).
	Run func(ctx context.Context, o hsync.RunOptions) (hsync.Summary, error)
	// DailyUsage, when set, is read after each run for metrics and status.
	DailyUsage func(ctx context.Context) ([]hubspot.APIUsage, error)
	// Logger receives serve's lines; nil discards them.
	Logger *slog.Logger
	// Metrics, when set, is updated after each run.
	Metrics *metrics
	// Gatherer, when set, is served on /metrics.
	Gatherer prometheus.Gatherer
	// WebhookSecret is the HubSpot app's client secret (webhooks.enabled);
	// Now is the clock signatures are checked on (nil: time.Now).
	WebhookSecret string
	Now           func() time.Time
}

// serveOptions changes how serve runs. The zero value schedules from the
// config and serves no HTTP endpoint.
type serveOptions struct {
	// RunNow starts one run at boot.
	RunNow bool
	// Listen is the HTTP address; "" or "off" serves none.
	Listen string
	// Schedule and FullSchedule replace the config's cron specs (tests use
	// sub-second schedules).
	Schedule, FullSchedule cron.Schedule
	// OnShutdown is called once when ctx is done. runServe passes main's
	// signal stop, so that a second SIGTERM or SIGINT ends the process at
	// once (the state file is consistent at every commit).
	OnShutdown func()
	// OnListen is told the HTTP address once it is listening.
	OnListen func(addr string)
}

// server is the state of one serve call.
type server struct {
	cfg  config.Config
	d    serveDeps
	log  *slog.Logger
	base context.Context // runs derive from it; cancelled when the grace period ends

	gate        sync.Mutex // held by the run in progress, whichever schedule started it
	fullPending atomic.Bool
	running     atomic.Bool
	stopping    atomic.Bool
	wg          sync.WaitGroup // runs started outside cron (--run-now)

	cron          *cron.Cron
	incID, fullID cron.EntryID
	hooks         *webhooks // nil unless webhooks.enabled
}

// serve runs the job on the schedule until ctx is done, then stops taking
// new runs, gives the run in progress most of the grace period to finish,
// cancels it (it records "interrupted" and the next run continues from its
// last checkpoint) and returns. It never overlaps runs: the cron chain has
// Recover and SkipIfStillRunning per schedule, and a shared gate keeps the
// incremental and full resync schedules (and --run-now) apart. A full resync
// that falls due while a run is in progress makes the next run a full one.
func serve(ctx context.Context, cfg config.Config, d serveDeps, o serveOptions) error {
	inc, full, loc, err := parseSchedules(cfg.Schedule)
	if err != nil {
		return config.Problems{{Key: "schedule", Msg: err.Error()}}
	}
	if o.Schedule != nil {
		inc = o.Schedule
	}
	if o.FullSchedule != nil {
		full = o.FullSchedule
	}
	log := d.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base, cancelRuns := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelRuns(nil)
	s := &server{cfg: cfg, d: d, log: log, base: base}
	if cfg.Webhooks.Enabled {
		if d.WebhookSecret == "" {
			return config.Problems{{Key: "webhooks.enabled", Msg: "no client secret", Fix: "set HUBSPOT_CLIENT_SECRET or webhooks.client_secret_file"}}
		}
		s.hooks = newWebhooks(s, d.WebhookSecret, d.Now)
	}
	cl := cronLogger{l: log, m: d.Metrics}
	s.cron = cron.New(cron.WithLocation(loc), cron.WithLogger(cl),
		// Recover innermost: a panic must not skip SkipIfStillRunning's
		// release of its slot, or no scheduled run would ever run again.
		cron.WithChain(cron.SkipIfStillRunning(cl), cron.Recover(cl)))
	s.incID = s.cron.Schedule(inc, cron.FuncJob(func() { s.runJob(false) }))
	if full != nil {
		s.fullID = s.cron.Schedule(full, cron.FuncJob(func() { s.runJob(true) }))
	}
	s.seedMetrics()

	var srv *http.Server
	if o.Listen != "" && o.Listen != "off" {
		ln, err := net.Listen("tcp", o.Listen)
		if err != nil {
			return fmt.Errorf("listen on %s (operations.listen): %w", o.Listen, err)
		}
		srv = &http.Server{Handler: s.handler(), ReadHeaderTimeout: 5 * time.Second}
		go func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("http endpoint stopped", "err", err)
			}
		}()
		log.Info("http endpoint listening", "addr", ln.Addr().String(), "paths", "/healthz /readyz /metrics /status /runs /report /report.txt /report.json /backup")
		if o.OnListen != nil {
			o.OnListen(ln.Addr().String())
		}
	}

	s.cron.Start()
	stopHooks := make(chan struct{})
	if s.hooks != nil {
		// Counted with the runs: shutdown waits for a webhook run and
		// the removal of the events it applied.
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.hooks.run(stopHooks)
		}()
	}
	next, nextFull := s.nextRuns()
	log.Info("serve started", "schedule", cfg.Schedule.Cron, "full_resync", cfg.Schedule.FullResync,
		"timezone", loc.String(), "next_run", next, "next_full_resync", nextFull, "run_now", o.RunNow,
		"run_timeout", time.Duration(cfg.Schedule.RunTimeout), "grace_period", time.Duration(cfg.Schedule.GracePeriod))
	if o.RunNow {
		job := cron.NewChain(cron.Recover(cl)).Then(cron.FuncJob(func() { s.runJob(false) }))
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			job.Run()
		}()
	}

	<-ctx.Done()
	if o.OnShutdown != nil {
		o.OnShutdown()
	}
	close(stopHooks)
	err = s.shutdown(cancelRuns)
	if srv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
	}
	return err
}

// shutdown stops the schedule and waits for the run in progress: it may
// finish within 90% of the grace period; after that its context is cancelled
// and it has the rest of the period to record where it stopped.
func (s *server) shutdown(cancelRuns context.CancelCauseFunc) error {
	s.stopping.Store(true)
	grace := time.Duration(s.cfg.Schedule.GracePeriod)
	if grace <= 0 {
		grace = 30 * time.Second
	}
	deadline := time.Now().Add(grace)
	drain := grace - max(grace/10, min(time.Second, grace/2))
	s.log.Info("shutting down: no new runs", "run_in_progress", s.running.Load(), "grace_period", grace)
	cronDone := s.cron.Stop()
	done := make(chan struct{})
	go func() {
		<-cronDone.Done()
		s.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(drain)
	defer t.Stop()
	select {
	case <-done:
		return nil
	case <-t.C:
	}
	s.log.Warn("grace period ending: interrupting the run in progress; the next run continues from its last checkpoint")
	cancelRuns(errShutdown)
	t.Reset(time.Until(deadline))
	select {
	case <-done:
		return nil
	case <-t.C:
		return errGraceExpired
	}
}

// runJob is one scheduled (or --run-now) run.
func (s *server) runJob(full bool) {
	defer func() {
		// The runner recovers its own panics; this catches the rest
		// (metrics, the store) so the schedule goes on.
		if p := recover(); p != nil {
			s.log.Error("scheduled job panicked; the next run goes ahead", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		}
	}()
	if full {
		s.fullPending.Store(true)
	}
	if s.stopping.Load() {
		return
	}
	if !s.gate.TryLock() {
		s.log.Warn("scheduled run skipped: another run is still in progress", "full_resync", full)
		if s.d.Metrics != nil {
			s.d.Metrics.runs.WithLabelValues(string(outcomeSkipped)).Inc()
		}
		return
	}
	defer s.gate.Unlock()
	s.execute(hsync.RunOptions{Full: s.fullPending.Swap(false)})
}

// execute performs one run with the gate held, and updates the metrics, the
// failure count and the daily usage after it.
func (s *server) execute(o hsync.RunOptions) error {
	s.running.Store(true)
	defer s.running.Store(false)
	if m := s.d.Metrics; m != nil {
		m.running.Set(1)
		defer m.running.Set(0)
	}
	timeout := time.Duration(s.cfg.Schedule.RunTimeout)
	if timeout <= 0 {
		timeout = time.Hour
	}
	ctx, cancel := context.WithTimeout(s.base, timeout)
	defer cancel()
	rep, err := s.d.Run(ctx, o)
	// The run's own end time (the runner's clock, as in the run log), so
	// the metrics and the run log agree exactly.
	end := rep.Ended
	if end.IsZero() {
		end = time.Now()
	}
	outcome := hsync.Outcome(err)
	switch {
	case err == nil:
	case outcome == state.OutcomeInterrupted:
		s.log.Warn("run interrupted by shutdown", "run_id", rep.RunID, "err", err)
	case errors.Is(err, context.DeadlineExceeded):
		s.log.Error("run failed: it took longer than schedule.run_timeout", "run_id", rep.RunID, "run_timeout", timeout, "err", err)
	case outcome == state.OutcomeBlocked:
		s.log.Error("run blocked by the circuit breaker: nothing written; /readyz stays not ready until a run writes", "run_id", rep.RunID, "err", err)
	case outcome == state.OutcomePartial:
		s.log.Warn("run partial: HubSpot refused some writes", "run_id", rep.RunID, "err", err)
	default:
		s.log.Error("run failed", "run_id", rep.RunID, "err", err, "exit_code", exitCode(err))
	}
	if m := s.d.Metrics; m != nil {
		m.observeRun(rep, outcome, end)
		if err := m.setContacts(s.d.Store); err != nil {
			s.log.Warn("count contacts by tier and segment", "err", err)
		}
	}
	s.updateFailures()
	if outcome != state.OutcomeInterrupted {
		s.readDailyUsage()
	}
	next, nextFull := s.nextRuns()
	s.log.Debug("next runs", "next_run", next, "next_full_resync", nextFull)
	return err
}

// readDailyUsage reads HubSpot's daily usage (best effort) into the metrics
// and the store, where `clvsync status` finds it.
func (s *server) readDailyUsage() {
	if s.d.DailyUsage == nil {
		return
	}
	ctx, cancel := context.WithTimeout(s.base, 15*time.Second)
	defer cancel()
	us, err := s.d.DailyUsage(ctx)
	if err != nil {
		s.log.Debug("read daily API usage", "err", err)
		return
	}
	if s.d.Metrics != nil {
		s.d.Metrics.setDailyUsage(us)
	}
	raw, err := json.Marshal(recordedUsage{At: time.Now().UTC(), Usage: us})
	if err == nil {
		err = s.d.Store.SetMeta(metaDailyUsage, string(raw))
	}
	if err != nil {
		s.log.Debug("record daily API usage", "err", err)
	}
	for _, u := range us {
		s.log.Debug("daily API usage", "name", u.Name, "used", u.CurrentUsage, "limit", u.UsageLimit)
	}
}

// updateFailures refreshes the consecutive-failures gauge from the run log
// and returns the count and the newest failed run's error.
func (s *server) updateFailures() (int, string, error) {
	runs, err := s.d.Store.Runs(200)
	if err != nil {
		return 0, "", err
	}
	n := consecutiveFailures(runs)
	if s.d.Metrics != nil {
		s.d.Metrics.consecutiveFailures.Set(float64(n))
	}
	last := ""
	for _, r := range runs {
		if r.Outcome == state.OutcomeFailed {
			last = r.Error
			break
		}
	}
	return n, last, nil
}

// seedMetrics fills the gauges from the store at start-up.
func (s *server) seedMetrics() {
	m := s.d.Metrics
	if m == nil {
		return
	}
	if runs, err := s.d.Store.Runs(200); err == nil {
		m.setLastRuns(runs)
	}
	if _, _, err := s.updateFailures(); err != nil {
		s.log.Warn("read the run log", "err", err)
	}
	if err := m.setContacts(s.d.Store); err != nil {
		s.log.Warn("count contacts by tier and segment", "err", err)
	}
	if raw, err := s.d.Store.Meta(metaDailyUsage); err == nil && raw != "" {
		var ru recordedUsage
		if json.Unmarshal([]byte(raw), &ru) == nil {
			m.setDailyUsage(ru.Usage)
		}
	}
}

// nextRuns returns the next incremental and full resync times (zero when
// not scheduled) and updates the gauge.
func (s *server) nextRuns() (next, nextFull time.Time) {
	next = s.cron.Entry(s.incID).Next
	if s.fullID != 0 {
		nextFull = s.cron.Entry(s.fullID).Next
	}
	if m := s.d.Metrics; m != nil {
		if !next.IsZero() {
			m.nextRun.WithLabelValues("incremental").Set(unixSeconds(next))
		}
		if !nextFull.IsZero() {
			m.nextRun.WithLabelValues("full").Set(unixSeconds(nextFull))
		}
	}
	return next, nextFull
}

// handler serves /healthz, /readyz, /metrics, /status and /runs.
func (s *server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /backup", backupHandler(s.d.Store))
	mux.HandleFunc("GET /report", reportHandler(s.d.Store, s.cfg, reportHTML))
	mux.HandleFunc("GET /report.txt", reportHandler(s.d.Store, s.cfg, reportText))
	mux.HandleFunc("GET /report.json", reportHandler(s.d.Store, s.cfg, reportJSON))
	if s.hooks != nil {
		mux.HandleFunc("POST "+s.cfg.Webhooks.Path, s.hooks.handle)
	}
	if s.d.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.d.Gatherer, promhttp.HandlerOpts{}))
	}
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		st, err := collectStatus(s.d.Store, s.cfg, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		st.Source = fmt.Sprintf("clvsync serve (pid %d)", os.Getpid())
		st.Running = s.running.Load()
		next, nextFull := s.nextRuns()
		st.NextRun, st.NextFull = timePtr(next), timePtr(nextFull)
		writeJSON(w, st)
	})
	mux.HandleFunc("GET /runs", func(w http.ResponseWriter, r *http.Request) {
		limit := 20
		if v := r.URL.Query().Get("limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				http.Error(w, "limit must be a positive number", http.StatusBadRequest)
				return
			}
			limit = n
		}
		runs, err := s.d.Store.Runs(limit)
		if err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		if runs == nil {
			runs = []state.Run{}
		}
		writeJSON(w, runs)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "clvsync: /healthz /readyz /metrics /status /runs")
	})
	return mux
}

// readyz is ready while the store answers, serve is not shutting down, and
// fewer than operations.unready_after_failures runs failed in a row.
func (s *server) readyz(w http.ResponseWriter, _ *http.Request) {
	if s.stopping.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	n, lastErr, err := s.updateFailures()
	if err != nil {
		http.Error(w, "state file: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	if last, ok, err := s.d.Store.LastRun(); err == nil && ok && last.Outcome == state.OutcomeBlocked {
		http.Error(w, fmt.Sprintf("run %d was blocked by the circuit breaker and wrote nothing: %s; check the mapping, then run `clvsync run --accept-changes` once if the change is intended",
			last.ID, last.Error), http.StatusServiceUnavailable)
		return
	}
	if limit := s.cfg.Operations.UnreadyFailures; limit > 0 && n >= limit {
		http.Error(w, fmt.Sprintf("%d runs failed in a row (operations.unready_after_failures is %d); last error: %s", n, limit, lastErr),
			http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// cronLogger adapts slog to cron.Logger. cron's chatter goes to debug;
// SkipIfStillRunning's "skip" becomes a warning and a skipped-run count.
type cronLogger struct {
	l *slog.Logger
	m *metrics
}

// Info logs cron's informational messages.
func (c cronLogger) Info(msg string, kv ...any) {
	if msg == "skip" {
		c.l.Warn("scheduled run skipped: the previous run of this schedule is still in progress")
		if c.m != nil {
			c.m.runs.WithLabelValues(string(outcomeSkipped)).Inc()
		}
		return
	}
	c.l.Debug("cron "+msg, kv...)
}

// Error logs cron's errors, including recovered panics.
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron "+msg, append(kv, "err", err)...)
}
