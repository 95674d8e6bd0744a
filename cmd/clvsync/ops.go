package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/state"
	hsync "github.com/clvsync/clvsync/sync"
	"github.com/clvsync/clvsync/sync/config"
)

// metaDailyUsage is the meta key under which serve records the daily API
// usage it last read, so `status` can show it without calling HubSpot.
const metaDailyUsage = "ops_daily_usage"

// recordedUsage is the JSON stored under metaDailyUsage.
type recordedUsage struct {
	At    time.Time          `json:"at"`
	Usage []hubspot.APIUsage `json:"usage"`
}

// statusInfo is what `clvsync status` prints, and what serve's /status
// endpoint returns as JSON.
type statusInfo struct {
	StatePath           string         `json:"state_path"`
	Source              string         `json:"source"`
	LastRun             *state.Run     `json:"last_run,omitempty"`
	LastSuccess         *state.Run     `json:"last_success,omitempty"`
	ConsecutiveFailures int            `json:"consecutive_failures"`
	UnreadyAfter        int            `json:"unready_after_failures"`
	Running             bool           `json:"running"`
	Schedule            string         `json:"schedule"`
	FullSchedule        string         `json:"full_resync_schedule,omitempty"`
	TimeZone            string         `json:"timezone"`
	NextRun             *time.Time     `json:"next_run,omitempty"`
	NextFull            *time.Time     `json:"next_full_resync,omitempty"`
	Cursors             []state.Cursor `json:"cursors"`
	Counts              *state.Counts  `json:"counts,omitempty"`
	DailyUsage          []apiUsage     `json:"daily_usage,omitempty"`
	DailyUsageNote      string         `json:"daily_usage_note,omitempty"`
}

// apiUsage is hubspot.APIUsage with clvsync's snake_case JSON keys.
type apiUsage struct {
	Name         string     `json:"name"`
	UsageLimit   int64      `json:"usage_limit"`
	CurrentUsage int64      `json:"current_usage"`
	CollectedAt  time.Time  `json:"collected_at"`
	ResetsAt     *time.Time `json:"resets_at,omitempty"`
	FetchStatus  string     `json:"fetch_status"`
}

func usageJSON(us []hubspot.APIUsage) []apiUsage {
	out := make([]apiUsage, len(us))
	for i, u := range us {
		out[i] = apiUsage(u)
	}
	return out
}

// consecutiveFailures counts failed runs, newest first, until a successful
// one. Dry runs, runs still in progress and interrupted runs (shutdowns) are
// neither failures nor successes.
func consecutiveFailures(runs []state.Run) int {
	n := 0
	for _, r := range runs {
		if r.DryRun {
			continue
		}
		switch r.Outcome {
		case state.OutcomeFailed:
			n++
		case state.OutcomeOK, state.OutcomePartial:
			return n
		}
	}
	return n
}

// collectStatus reads the status from the store and the config's schedule.
func collectStatus(store *state.Store, cfg config.Config, now time.Time) (statusInfo, error) {
	st := statusInfo{StatePath: store.Path(), Source: "state file", UnreadyAfter: cfg.Operations.UnreadyFailures,
		Schedule: cfg.Schedule.Cron, FullSchedule: cfg.Schedule.FullResync, TimeZone: cfg.Schedule.TimeZone}
	runs, err := store.Runs(500)
	if err != nil {
		return st, err
	}
	if len(runs) > 0 {
		st.LastRun = &runs[0]
		st.Running = runs[0].Outcome == state.OutcomeRunning
	}
	for i := range runs {
		if runs[i].Outcome == state.OutcomeOK && !runs[i].DryRun {
			st.LastSuccess = &runs[i]
			break
		}
	}
	st.ConsecutiveFailures = consecutiveFailures(runs)
	if inc, full, loc, err := parseSchedules(cfg.Schedule); err == nil {
		t := inc.Next(now.In(loc))
		st.NextRun = &t
		if full != nil {
			f := full.Next(now.In(loc))
			st.NextFull = &f
		}
	}
	for _, name := range hsync.CursorNames() {
		c, err := store.Cursor(name)
		if err != nil {
			return st, err
		}
		st.Cursors = append(st.Cursors, c)
	}
	counts, err := store.Counts()
	if err != nil {
		return st, err
	}
	st.Counts = &counts
	if raw, err := store.Meta(metaDailyUsage); err == nil && raw != "" {
		var ru recordedUsage
		if json.Unmarshal([]byte(raw), &ru) == nil {
			st.DailyUsage = usageJSON(ru.Usage)
			st.DailyUsageNote = "read by clvsync serve at " + ru.At.In(locOr(cfg)).Format(timeLayout)
		}
	}
	return st, nil
}

// parseSchedules parses the incremental and (optional) full resync cron
// specs and the time zone of a schedule config.
func parseSchedules(sc config.ScheduleConfig) (inc, full cron.Schedule, loc *time.Location, err error) {
	tz := sc.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	if loc, err = time.LoadLocation(tz); err != nil {
		return nil, nil, nil, fmt.Errorf("schedule.timezone %q: %w", tz, err)
	}
	if inc, err = cron.ParseStandard(sc.Cron); err != nil {
		return nil, nil, nil, fmt.Errorf("schedule.cron %q: %w", sc.Cron, err)
	}
	if sc.FullResync != "" {
		if full, err = cron.ParseStandard(sc.FullResync); err != nil {
			return nil, nil, nil, fmt.Errorf("schedule.full_resync %q: %w", sc.FullResync, err)
		}
	}
	return inc, full, loc, nil
}

func locOr(cfg config.Config) *time.Location {
	if loc, err := time.LoadLocation(cfg.Schedule.TimeZone); err == nil && cfg.Schedule.TimeZone != "" {
		return loc
	}
	return time.UTC
}

const timeLayout = "2006-01-02 15:04:05 MST"

func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cf commonFlags
	fs := newFlags("status", stderr, "status --config FILE [--offline] [--json]")
	cf.register(fs)
	offline := fs.Bool("offline", false, "do not ask HubSpot for the daily API usage (show the last recorded figure)")
	asJSON := fs.Bool("json", false, "print JSON")
	if code, ok := parseArgs(fs, args, stdout); !ok {
		return code
	}
	cfg, err := cf.loadConfig()
	if err != nil {
		return fail(stderr, err)
	}
	var st statusInfo
	store, err := openStoreForRead(cfg)
	switch {
	case errors.Is(err, state.ErrLocked):
		// serve holds the lock for its lifetime; ask it instead.
		if herr := fetchFromServe(ctx, cfg, "/status", &st); herr != nil {
			return fail(stderr, lockedHint(err, herr))
		}
	case err != nil:
		return fail(stderr, err)
	default:
		st, err = collectStatus(store, cfg, time.Now())
		store.Close()
		if err != nil {
			return fail(stderr, err)
		}
	}
	if !*offline {
		if token, terr := cfg.Token(os.Getenv); terr == nil {
			uctx, cancel := context.WithTimeout(ctx, 15*time.Second)
			us, uerr := liveDailyUsage(uctx, cfg, token)
			cancel()
			if uerr == nil {
				st.DailyUsage, st.DailyUsageNote = usageJSON(us), "live"
			} else if st.DailyUsageNote == "" {
				st.DailyUsageNote = "could not read: " + strings.ReplaceAll(uerr.Error(), token, "[REDACTED]")
			}
		} else if st.DailyUsageNote == "" {
			st.DailyUsageNote = "unknown: set HUBSPOT_TOKEN to read it"
		}
	}
	if *asJSON {
		return printJSON(stdout, stderr, st)
	}
	printStatus(stdout, st, locOr(cfg), time.Now())
	return exitOK
}

// liveDailyUsage asks HubSpot for the daily API usage.
func liveDailyUsage(ctx context.Context, cfg config.Config, token string) ([]hubspot.APIUsage, error) {
	client, err := newClient(cfg, token, nil, nil)
	if err != nil {
		return nil, err
	}
	return client.Account.DailyUsage(ctx)
}

func printStatus(w io.Writer, st statusInfo, loc *time.Location, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	when := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.In(loc).Format(timeLayout)
	}
	file := st.StatePath
	if st.Counts != nil {
		c := st.Counts
		file = fmt.Sprintf("%s (%s; %d deals, %d contacts, %d customers, %d runs)", st.StatePath, humanBytes(c.FileSize), c.Deals, c.Contacts, c.Customers, c.Runs)
	}
	fmt.Fprintf(tw, "State file\t%s\n", file)
	if st.Source != "state file" {
		fmt.Fprintf(tw, "Read from\t%s\n", st.Source)
	}
	if r := st.LastRun; r == nil {
		fmt.Fprintf(tw, "Last run\tnone yet\n")
	} else {
		fmt.Fprintf(tw, "Last run\t#%d %s %s, started %s, %s\n", r.ID, r.Mode, r.Outcome, when(r.Start), runDuration(*r, now))
		fmt.Fprintf(tw, "\tpulled %d deals, %d contacts; %d changed, %d written, %d failed; %d API calls (%d rate-limited)\n",
			r.Counts["deals_pulled"], r.Counts["contacts_pulled"], r.Counts["changed"], r.Counts["written"], r.Counts["failed"], r.APICalls, r.RateLimited)
		if _, ok := r.Counts["companies"]; ok {
			fmt.Fprintf(tw, "\tcompanies: %d computed, %d changed, %d written, %d failed\n",
				r.Counts["companies"], r.Counts["companies_changed"], r.Counts["companies_written"], r.Counts["companies_failed"])
		}
		if r.Error != "" {
			fmt.Fprintf(tw, "\terror: %s\n", r.Error)
		}
	}
	switch r := st.LastSuccess; {
	case r == nil:
		fmt.Fprintf(tw, "Last success\tnone yet\n")
	case st.LastRun != nil && r.ID == st.LastRun.ID:
		fmt.Fprintf(tw, "Last success\tthe last run, finished %s\n", when(r.End))
	default:
		fmt.Fprintf(tw, "Last success\t#%d, finished %s\n", r.ID, when(r.End))
	}
	health := fmt.Sprintf("%d failed run(s) in a row", st.ConsecutiveFailures)
	if st.UnreadyAfter > 0 {
		health += fmt.Sprintf(" (serve reports unready at %d)", st.UnreadyAfter)
	}
	fmt.Fprintf(tw, "Failures\t%s\n", health)
	if st.NextRun != nil {
		fmt.Fprintf(tw, "Next run\t%s (in %s), schedule %q\n", when(*st.NextRun), st.NextRun.Sub(now).Round(time.Second), st.Schedule)
	}
	if st.NextFull != nil {
		fmt.Fprintf(tw, "Full resync\t%s (in %s), schedule %q\n", when(*st.NextFull), st.NextFull.Sub(now).Round(time.Second), st.FullSchedule)
	}
	for i, c := range st.Cursors {
		label := ""
		if i == 0 {
			label = "Cursors"
		}
		v := "not set"
		switch {
		case c.After == "done":
			v = "complete, started " + when(c.Time)
		case c.After != "":
			v = fmt.Sprintf("in progress (page after %s), started %s", c.After, when(c.Time))
		case !c.Time.IsZero():
			v = when(c.Time)
		}
		fmt.Fprintf(tw, "%s\t%-18s %s\n", label, c.Name, v)
	}
	if len(st.DailyUsage) == 0 {
		fmt.Fprintf(tw, "Daily API\t%s\n", orDash(st.DailyUsageNote))
	}
	for i, u := range st.DailyUsage {
		label := ""
		if i == 0 {
			label = "Daily API"
		}
		pct := 0.0
		if u.UsageLimit > 0 {
			pct = 100 * float64(u.CurrentUsage) / float64(u.UsageLimit)
		}
		fmt.Fprintf(tw, "%s\t%s: %d of %d (%.1f%%), %s\n", label, u.Name, u.CurrentUsage, u.UsageLimit, pct, st.DailyUsageNote)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// runDuration is a finished run's duration, or "running for X".
func runDuration(r state.Run, now time.Time) string {
	switch {
	case r.Outcome == state.OutcomeRunning:
		return "running for " + now.Sub(r.Start).Round(time.Second).String()
	case r.End.IsZero():
		return "took ?"
	}
	return "took " + r.End.Sub(r.Start).Round(time.Millisecond).String()
}

func runRuns(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cf commonFlags
	fs := newFlags("runs", stderr, "runs --config FILE [--limit N] [--last] [--json]")
	cf.register(fs)
	limit := fs.Int("limit", 20, "how many recent runs to list")
	last := fs.Bool("last", false, "show the newest run in full, with its warnings")
	asJSON := fs.Bool("json", false, "print JSON")
	if code, ok := parseArgs(fs, args, stdout); !ok {
		return code
	}
	if *limit < 1 {
		return fail(stderr, config.Problems{{Key: "--limit", Msg: fmt.Sprintf("%d is too small", *limit), Fix: "use 1 or more"}})
	}
	if *last {
		*limit = 1
	}
	cfg, err := cf.loadConfig()
	if err != nil {
		return fail(stderr, err)
	}
	var runs []state.Run
	store, err := openStoreForRead(cfg)
	switch {
	case errors.Is(err, state.ErrLocked):
		if herr := fetchFromServe(ctx, cfg, fmt.Sprintf("/runs?limit=%d", *limit), &runs); herr != nil {
			return fail(stderr, lockedHint(err, herr))
		}
	case err != nil:
		return fail(stderr, err)
	default:
		runs, err = store.Runs(*limit)
		store.Close()
		if err != nil {
			return fail(stderr, err)
		}
	}
	if *asJSON {
		if runs == nil {
			runs = []state.Run{}
		}
		return printJSON(stdout, stderr, runs)
	}
	if len(runs) == 0 {
		fmt.Fprintln(stdout, "No runs yet.")
		return exitOK
	}
	loc := locOr(cfg)
	if *last {
		printRunDetail(stdout, runs[0], loc, time.Now())
		return exitOK
	}
	printRuns(stdout, runs, loc, time.Now())
	return exitOK
}

func printRuns(w io.Writer, runs []state.Run, loc *time.Location, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RUN\tSTART\tDURATION\tMODE\tOUTCOME\tDEALS\tCONTACTS\tCHANGED\tWRITTEN\tFAILED\tAPI CALLS\t429s\tERROR")
	for _, r := range runs {
		mode := r.Mode
		if r.DryRun {
			mode += " (dry run)"
		}
		dur := strings.TrimPrefix(runDuration(r, now), "took ")
		errText := r.Error
		if len(errText) > 80 {
			errText = errText[:77] + "..."
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", r.ID, r.Start.In(loc).Format(timeLayout), dur, mode, r.Outcome,
			r.Counts["deals_pulled"], r.Counts["contacts_pulled"], r.Counts["changed"], r.Counts["written"], r.Counts["failed"],
			r.APICalls, r.RateLimited, strings.ReplaceAll(errText, "\n", " "))
	}
	tw.Flush()
}

func printRunDetail(w io.Writer, r state.Run, loc *time.Location, now time.Time) {
	mode := r.Mode
	if r.DryRun {
		mode += " (dry run)"
	}
	fmt.Fprintf(w, "Run %d: %s, %s\n", r.ID, mode, r.Outcome)
	fmt.Fprintf(w, "  started   %s, %s\n", r.Start.In(loc).Format(timeLayout), runDuration(r, now))
	fmt.Fprintf(w, "  API calls %d (%d rate-limited)\n", r.APICalls, r.RateLimited)
	if r.Model != "" {
		fmt.Fprintf(w, "  model     %s\n", r.Model)
	}
	keys := make([]string, 0, len(r.Counts))
	for k := range r.Counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %-16s %d\n", k, r.Counts[k])
	}
	if r.Error != "" {
		fmt.Fprintf(w, "  error: %s\n", r.Error)
	}
	if len(r.Warnings) > 0 {
		fmt.Fprintf(w, "  warnings (%d kept):\n", len(r.Warnings))
		for _, wn := range r.Warnings {
			fmt.Fprintf(w, "    - %s\n", wn)
		}
	}
}

func printJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fail(stderr, err)
	}
	return exitOK
}

// openStoreForRead opens the state file with a short lock timeout: the
// read-only commands fall back to asking `clvsync serve` when it holds the
// lock, and should not wait for it.
func openStoreForRead(cfg config.Config) (*state.Store, error) {
	if _, err := os.Stat(cfg.State.Path); errors.Is(err, os.ErrNotExist) {
		return nil, config.Problems{{Key: "state.path", Msg: fmt.Sprintf("%s does not exist", cfg.State.Path),
			Fix: "run `clvsync run` once, or point --config at the config the worker uses"}}
	}
	return state.Open(cfg.State.Path, state.Options{Timeout: 500 * time.Millisecond,
		HistoryRetention: cfg.State.HistoryRetention, RunRetention: cfg.State.RunRetention})
}

// serveURL turns operations.listen into a URL for a local client: a
// wildcard host becomes the loopback address. ok is false when the
// endpoint is off.
func serveURL(listen string) (string, bool) {
	if listen == "" || listen == "off" {
		return "", false
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "", false
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), true
}

// fetchFromServe GETs a JSON document from the running `clvsync serve`.
func fetchFromServe(ctx context.Context, cfg config.Config, path string, v any) error {
	body, err := fetchRawFromServe(ctx, cfg, path, 5*time.Second)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decode answer of clvsync serve at %s: %w", path, err)
	}
	return nil
}

// fetchRawFromServe GETs a document from the running `clvsync serve`.
func fetchRawFromServe(ctx context.Context, cfg config.Config, path string, timeout time.Duration) ([]byte, error) {
	base, ok := serveURL(cfg.Operations.Listen)
	if !ok {
		return nil, errors.New("operations.listen is off, so the running clvsync cannot be asked")
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ask clvsync serve at %s: %w", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("ask clvsync serve at %s%s: %s", base, path, resp.Status)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read answer of clvsync serve at %s%s: %w", base, path, err)
	}
	return body, nil
}

// lockedHint keeps ErrLocked (exit 3) and says why the fallback failed.
func lockedHint(lockErr error, httpErr error) error {
	return fmt.Errorf("%w; a running `clvsync serve` could not be asked instead: %v", lockErr, httpErr)
}
