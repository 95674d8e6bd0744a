package main

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/state"
	hsync "github.com/clvsync/clvsync/sync"
)

// outcomeSkipped is the clvsync_runs_total outcome of scheduled runs that
// did not start because another run was still in progress; the others are
// the run log's (state.Outcome*).
const outcomeSkipped state.Outcome = "skipped"

// metrics holds every series `clvsync serve` exports on /metrics. Build it
// with newMetrics on a registry of its own; the global registry is never
// used.
type metrics struct {
	runs                *prometheus.CounterVec
	runDuration         *prometheus.HistogramVec
	lastSuccess         prometheus.Gauge
	breakerTripped      prometheus.Gauge
	lastRun             prometheus.Gauge
	running             prometheus.Gauge
	nextRun             *prometheus.GaugeVec
	consecutiveFailures prometheus.Gauge

	pulled  *prometheus.CounterVec
	changed prometheus.Counter
	written prometheus.Counter
	failed  prometheus.Counter

	contactsByTier    *prometheus.GaugeVec
	contactsBySegment *prometheus.GaugeVec

	apiRequests      *prometheus.CounterVec
	apiDuration      *prometheus.HistogramVec
	apiWaits         prometheus.Counter
	apiWaitSeconds   prometheus.Counter
	dailyUsage       *prometheus.GaugeVec
	dailyLimit       *prometheus.GaugeVec
	dailyCollectedAt *prometheus.GaugeVec
}

// newMetrics creates the clvsync series and registers them, plus the Go
// runtime and process collectors, on reg.
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clvsync_runs_total", Help: "Runs by outcome: ok, failed, interrupted, or skipped (a run was still in progress).",
		}, []string{"outcome"}),
		runDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "clvsync_run_duration_seconds", Help: "Duration of finished runs, by mode (full or incremental).",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200},
		}, []string{"mode"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clvsync_last_success_timestamp_seconds", Help: "Unix time at which the last successful run finished (0: none yet).",
		}),
		breakerTripped: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clvsync_breaker_tripped", Help: "1 when the last run was blocked by the circuit breaker (nothing written until `clvsync run --accept-changes` or a fixed mapping), else 0.",
		}),
		lastRun: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clvsync_last_run_timestamp_seconds", Help: "Unix time at which the last run finished, whatever its outcome (0: none yet).",
		}),
		running: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clvsync_run_in_progress", Help: "1 while a run is in progress.",
		}),
		nextRun: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "clvsync_next_run_timestamp_seconds", Help: "Unix time of the next scheduled run, by schedule (incremental or full).",
		}, []string{"schedule"}),
		consecutiveFailures: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "clvsync_consecutive_failed_runs", Help: "Failed runs since the last successful one; /readyz fails at operations.unready_after_failures.",
		}),
		pulled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clvsync_pulled_total", Help: "Records pulled from HubSpot, by object (deals or contacts).",
		}, []string{"object"}),
		changed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clvsync_values_changed_total", Help: "Contacts whose computed values changed and were due to be written.",
		}),
		written: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clvsync_values_written_total", Help: "Contacts whose values HubSpot accepted.",
		}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clvsync_values_failed_total", Help: "Contacts whose write HubSpot refused (retried next run).",
		}),
		contactsByTier: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "clvsync_contacts_by_tier", Help: "Contacts with computed values, by CLV tier, as of the last run.",
		}, []string{"tier"}),
		contactsBySegment: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "clvsync_contacts_by_segment", Help: "Contacts with computed values, by segment, as of the last run.",
		}, []string{"segment"}),
		apiRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clvsync_api_requests_total", Help: "HubSpot HTTP attempts (retries included) by endpoint and status (\"error\": no response).",
		}, []string{"endpoint", "status"}),
		apiDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "clvsync_api_request_duration_seconds", Help: "HubSpot HTTP attempt duration, by endpoint.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"endpoint"}),
		apiWaits: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clvsync_rate_limit_waits_total", Help: "HubSpot attempts that first waited on the client-side rate limiter or on retry backoff.",
		}),
		apiWaitSeconds: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "clvsync_rate_limit_wait_seconds_total", Help: "Time spent waiting on the rate limiter and retry backoff before HubSpot attempts.",
		}),
		dailyUsage: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "clvsync_api_daily_usage", Help: "HubSpot daily API calls used, by usage counter, as last read after a run.",
		}, []string{"name"}),
		dailyLimit: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "clvsync_api_daily_limit", Help: "HubSpot daily API call limit, by usage counter.",
		}, []string{"name"}),
		dailyCollectedAt: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "clvsync_api_daily_usage_collected_timestamp_seconds", Help: "Unix time at which HubSpot collected the daily usage figure.",
		}, []string{"name"}),
	}
	b := readBuildInfo()
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "clvsync_build_info", Help: "1, labelled with the running binary's version, VCS revision and Go version.",
	}, []string{"version", "revision", "goversion"})
	build.WithLabelValues(b.Version, b.Revision, b.GoVersion).Set(1)
	reg.MustRegister(build)
	reg.MustRegister(m.runs, m.runDuration, m.lastSuccess, m.breakerTripped, m.lastRun, m.running, m.nextRun, m.consecutiveFailures,
		m.pulled, m.changed, m.written, m.failed, m.contactsByTier, m.contactsBySegment,
		m.apiRequests, m.apiDuration, m.apiWaits, m.apiWaitSeconds, m.dailyUsage, m.dailyLimit, m.dailyCollectedAt,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Expose every outcome from the start, so rate() and alerts work before
	// the first failure.
	for _, o := range []state.Outcome{state.OutcomeOK, state.OutcomePartial, state.OutcomeBlocked, state.OutcomeFailed, state.OutcomeInterrupted, outcomeSkipped} {
		m.runs.WithLabelValues(string(o))
	}
	for _, o := range []string{"deals", "contacts"} {
		m.pulled.WithLabelValues(o)
	}
	return m
}

// observeRequest is the hubspot.Options.Observer: one call per HTTP attempt.
func (m *metrics) observeRequest(e hubspot.RequestEvent) {
	status := "error"
	if e.Status > 0 {
		status = strconv.Itoa(e.Status)
	}
	m.apiRequests.WithLabelValues(e.Endpoint, status).Inc()
	m.apiDuration.WithLabelValues(e.Endpoint).Observe(e.Duration.Seconds())
	if e.Waited > 0 {
		m.apiWaits.Inc()
		m.apiWaitSeconds.Add(e.Waited.Seconds())
	}
}

// observeRun records a finished run.
func (m *metrics) observeRun(rep hsync.Summary, outcome state.Outcome, end time.Time) {
	m.runs.WithLabelValues(string(outcome)).Inc()
	if rep.Mode != "" {
		m.runDuration.WithLabelValues(rep.Mode).Observe(rep.Duration.Seconds())
	}
	m.lastRun.Set(unixSeconds(end))
	// A partial run wrote what HubSpot accepted: it counts as a success
	// here; clvsync_contacts_failed_total shows what it could not write.
	if outcome == state.OutcomeOK || outcome == state.OutcomePartial {
		m.lastSuccess.Set(unixSeconds(end))
	}
	blocked := 0.0
	if outcome == state.OutcomeBlocked {
		blocked = 1
	}
	m.breakerTripped.Set(blocked)
	m.pulled.WithLabelValues("deals").Add(float64(rep.Pulled.Deals))
	m.pulled.WithLabelValues("contacts").Add(float64(rep.Pulled.Contacts))
	m.changed.Add(float64(rep.Changed))
	m.written.Add(float64(rep.Written))
	m.failed.Add(float64(rep.Failed))
}

// setContacts replaces the tier and segment gauges with counts over the
// store's computed results.
func (m *metrics) setContacts(store *state.Store) error {
	tiers, segments := map[string]int{}, map[string]int{}
	err := store.ForEachResult(func(r state.Result) error {
		if r.Tier != "" {
			tiers[r.Tier]++
		}
		if r.Segment != "" {
			segments[r.Segment]++
		}
		return nil
	})
	if err != nil {
		return err
	}
	m.contactsByTier.Reset()
	for k, n := range tiers {
		m.contactsByTier.WithLabelValues(k).Set(float64(n))
	}
	m.contactsBySegment.Reset()
	for k, n := range segments {
		m.contactsBySegment.WithLabelValues(k).Set(float64(n))
	}
	return nil
}

// setDailyUsage records HubSpot's daily usage counters.
func (m *metrics) setDailyUsage(us []hubspot.APIUsage) {
	for _, u := range us {
		m.dailyUsage.WithLabelValues(u.Name).Set(float64(u.CurrentUsage))
		m.dailyLimit.WithLabelValues(u.Name).Set(float64(u.UsageLimit))
		if !u.CollectedAt.IsZero() {
			m.dailyCollectedAt.WithLabelValues(u.Name).Set(unixSeconds(u.CollectedAt))
		}
	}
}

// setLastRuns seeds the timestamps from the run log, so a restarted serve
// does not report "never succeeded".
func (m *metrics) setLastRuns(runs []state.Run) {
	var lastDone, lastOK bool
	for _, r := range runs { // newest first
		if r.DryRun || r.Outcome == state.OutcomeRunning {
			continue
		}
		if !lastDone {
			m.lastRun.Set(unixSeconds(r.End))
			if r.Outcome == state.OutcomeBlocked {
				m.breakerTripped.Set(1)
			}
			lastDone = true
		}
		if !lastOK && (r.Outcome == state.OutcomeOK || r.Outcome == state.OutcomePartial) {
			m.lastSuccess.Set(unixSeconds(r.End))
			lastOK = true
		}
		if lastDone && lastOK {
			return
		}
	}
}

func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
