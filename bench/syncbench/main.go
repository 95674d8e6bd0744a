// Command syncbench measures what a full and an incremental sync cost against
// fakehub: API calls against the minimum, wall time, the share of the allowed
// request rate used, 429s, clvsync's CPU time per pulled request, the bytes
// it wrote to disk against the state file's size, peak RSS and the state
// file size.
//
//	go build -o /tmp/clvsync ./cmd/clvsync
//	go run ./bench/syncbench --clvsync /tmp/clvsync --contacts 100000
//
// fakehub runs as a separate process so that the peak RSS printed is
// clvsync's own.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/shopspring/decimal"

	"github.com/clvsync/clvsync/hubspot"
	"github.com/clvsync/clvsync/state"
	hsync "github.com/clvsync/clvsync/sync"
	"github.com/clvsync/clvsync/sync/config"
)

func main() {
	bin := flag.String("clvsync", "", "path to a built clvsync binary (serves fakehub)")
	contacts := flag.Int("contacts", 100000, "contacts in the generated portal")
	scale := flag.Float64("limit-scale", 10, "fakehub rate-limit multiplier (1 = real HubSpot speed)")
	tier := flag.String("tier", "professional", "rate-limit tier")
	share := flag.Float64("share", 0.8, "share of the rate limit clvsync may use")
	changePct := flag.Float64("change", 1, "percent of deals changed between the two syncs")
	keep := flag.String("keep", "", "keep the state file at this path (default: a temp file, removed)")
	flag.DurationVar(&sampleEvery, "sample", 100*time.Millisecond, "how often the peak RSS and its phase are sampled")
	logSteps := flag.Bool("log", false, "print the runs' debug log (each pull step's time) to stderr")
	memTrace := flag.Bool("memtrace", false, "print heap and RSS every second to stderr")
	memProfile := flag.String("memprofile", "", "write heap profiles taken near each phase's peak to this path with the phase appended (.pull, .compute, .write; each incremental run's with .1, .2 and .3 before it)")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the full sync's pull phase to this file")
	computeProfile := flag.String("computeprofile", "", "write a CPU profile of the full sync's compute phase to this file")
	runProfile := flag.String("runprofile", "", "write a CPU profile of each incremental run to this path with .1, .2 and .3 appended")
	flag.BoolVar(&reopen, "reopen", false, "close and open the state file again before each incremental run, as a run in a process of its own (clvsync run from cron, a Kubernetes CronJob) finds it; default: one process for all runs, as clvsync serve")
	spikes := flag.Int("spikes", 0, "sample RSS every millisecond and print the goroutines' stacks when it grows by this many MB within 5 ms (0: off)")
	flag.Parse()
	if *memProfile == "" {
		runtime.MemProfileRate = 0 // as clvsync runs (its main's init)
	}
	pullProfile, incProfile, fullComputeProfile = *cpuProfile, *runProfile, *computeProfile
	if *logSteps {
		benchLogger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "--clvsync BIN is required (go build -o /tmp/clvsync ./cmd/clvsync)")
		os.Exit(2)
	}
	phase.Store("")
	where.Store("")
	go sampleHeap(*memProfile, *memTrace)
	if *spikes > 0 {
		go watchSpikes(int64(*spikes) << 20)
	}
	if err := run(*bin, *contacts, *scale, *tier, *share, *changePct, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

// reopen is -reopen.
var reopen bool

func run(bin string, contacts int, scale float64, tier string, share float64, changePct float64, keep string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	hub := exec.Command(bin, "fakehub", "--listen", addr, "--token", "bench", "--contacts", strconv.Itoa(contacts),
		"--seed", "1", "--tier", tier, "--limit-scale", strconv.FormatFloat(scale, 'f', -1, 64), "--anchor", "2026-11-01")
	out, _ := hub.StdoutPipe()
	hub.Stderr = os.Stderr
	if err := hub.Start(); err != nil {
		return err
	}
	defer hub.Process.Kill()
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "base URL") {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(5 * time.Minute):
		return fmt.Errorf("fakehub did not start")
	}
	base := "http://" + addr
	dir, err := os.MkdirTemp("", "syncbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	cfg := config.DefaultConfig()
	cfg.HubSpot.BaseURL, cfg.HubSpot.Tier, cfg.HubSpot.RateLimitShare = base, tier, share
	cfg.State.Path = filepath.Join(dir, "clvsync.db")
	// The runs follow each other within seconds of each 1 % burst of
	// changes; any overlap (the default 5 minutes is for clock skew and
	// search lag between runs minutes apart) would re-read the previous
	// run's whole burst. fakehub has no search lag here, and the search
	// walk re-reads the cursor's own millisecond anyway.
	cfg.Schedule.OverlapSkew = 0
	if keep != "" {
		cfg.State.Path = keep
	}
	var calls atomic.Int64
	client, err := hubspot.New(hubspot.Options{BaseURL: base, Token: "bench", Tier: tier, Share: share,
		Observer: func(ev hubspot.RequestEvent) { calls.Add(1); exchanges.add(ev) }})
	if err != nil {
		return err
	}
	store, err := state.Open(cfg.State.Path, state.Options{})
	if err != nil {
		return err
	}
	defer func() {
		if store != nil {
			store.Close()
		}
	}()
	// The runner's clock is the real one, as fakehub's (it stamps every
	// write with time.Now): the cursors a run sets from its own clock (a
	// full sync's, a contact listing's) must be comparable with the
	// modification dates fakehub gives.
	runner := &hsync.Runner{Client: hsync.NewHubSpot(client), Store: store, Config: cfg, Logger: benchLogger, PullGCPercent: 300, ComputeGCPercent: 25} // as clvsync run sets them
	fullDay := time.Now().UTC().Format(time.DateOnly)
	allowed := float64(tierBurst(tier)) * scale * share / 10 // requests per second we may use

	fmt.Printf("portal: %d contacts, fakehub limit x%g, tier %s, share %.0f%% (%.1f req/s allowed)\n\n",
		contacts, scale, tier, share*100, allowed)
	ctx := context.Background()
	// The pull's CPU time ends where the first later phase reports
	// progress.
	var pullCPU time.Duration
	var cpuAtStart time.Duration
	stopProfile := func() {}
	if pullProfile != "" {
		f, err := os.Create(pullProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		stopProfile = pprof.StopCPUProfile
	}
	// The compute phase's steps: pass 1 (the model's inputs), the model
	// (fit and tournament when due), pass 2 (predictions), pass 3 (placed
	// and stored). Pass n reports n*customers + done of 3*customers.
	var computeMarks []time.Time
	stopCompute, computeProfiled := func() {}, false
	runner.Progress = func(ph string, done, total int) {
		if ph == "compute" && total > 0 {
			third := total / 3
			// Marks: compute start, pass 1 end, pass 2 start, pass 2 end.
			for len(computeMarks) < 4 && done >= [4]int{0, third, third + 1, 2 * third}[len(computeMarks)] {
				computeMarks = append(computeMarks, time.Now())
			}
		}
		if ph == "write" && len(computeMarks) == 4 {
			computeMarks = append(computeMarks, time.Now())
			stopCompute()
			stopCompute = func() {}
		}
		phase.Store(ph)
		where.Store(fmt.Sprintf("%s %d/%d", ph, done, total))
		phase := ph
		if pullCPU == 0 && !strings.HasPrefix(phase, "pull") {
			pullCPU = cpuTime() - cpuAtStart
			stopProfile()
			stopProfile = func() {}
		}
		if ph == "compute" && !computeProfiled && fullComputeProfile != "" {
			computeProfiled = true
			if f, err := os.Create(fullComputeProfile); err == nil && pprof.StartCPUProfile(f) == nil {
				stopCompute = func() { pprof.StopCPUProfile(); f.Close() }
			}
		}
	}
	resetHub(base)
	start := time.Now()
	cpuAtStart, ioAtStart := cpuTime(), writeBytes()
	rep, err := runner.Run(ctx, hsync.RunOptions{})
	if err != nil {
		return fmt.Errorf("full sync: %w", err)
	}
	fullWall := time.Since(start)
	fullCPU, fullIO := cpuTime()-cpuAtStart, writeBytes()-ioAtStart
	fullPeak := peakLine() // before Counts, which reads every page of the file in this process
	counts, err := store.Counts()
	if err != nil {
		return err
	}
	hs := hubStats(base)
	minFull := ceil(counts.Deals, 100) + ceil(counts.Contacts, 100)
	pullCalls := hs.pull
	fmt.Println("full sync")
	fmt.Printf("  deals %d, contacts %d, customers %d, written %d\n", counts.Deals, counts.Contacts, counts.Customers, rep.Written)
	fmt.Printf("  pull API calls   %d (minimum ceil(deals/100)+ceil(contacts/100) = %d, ratio %.3f)\n", pullCalls, minFull, float64(pullCalls)/float64(minFull))
	fmt.Printf("  write API calls  %d (minimum ceil(written/100) = %d)\n", hs.writes, ceil(rep.Written, 100))
	fmt.Printf("  total API calls  %d, 429s %d\n", rep.APICalls, hs.rateLimited)
	writeCalls := hs.writes
	for _, ph := range []struct {
		name  string
		calls int
		d     time.Duration
	}{{"pull", pullCalls, rep.Phases.Pull}, {"compute", 0, rep.Phases.Compute}, {"write", writeCalls, rep.Phases.Write}} {
		fmt.Printf("  %-8s phase   %6.1fs", ph.name, ph.d.Seconds())
		if d := ph.d.Seconds(); ph.calls > 0 && d > 0 {
			fmt.Printf(", %.1f req/s = %.0f%% of the allowed rate", float64(ph.calls)/d, 100*float64(ph.calls)/d/allowed)
		}
		fmt.Println()
	}
	if m := computeMarks; len(m) == 5 {
		fmt.Printf("  compute steps    pass 1 %.1fs, model %.1fs, pass 2 %.1fs, pass 3 %.1fs\n",
			m[1].Sub(m[0]).Seconds(), m[2].Sub(m[1]).Seconds(), m[3].Sub(m[2]).Seconds(), m[4].Sub(m[3]).Seconds())
	}
	fmt.Printf("  peak RSS         %s\n", fullPeak)
	fmt.Printf("  wall time        %s, CPU %s (pull %s: %.2f ms per pull request)\n", fullWall.Round(time.Millisecond),
		fullCPU.Round(time.Millisecond), pullCPU.Round(time.Millisecond), float64(pullCPU.Microseconds())/1000/float64(max(pullCalls, 1)))
	if fi, err := os.Stat(cfg.State.Path); err == nil && fullIO >= 0 {
		fmt.Printf("  disk written     %.1f MB = %.1fx the state file (%.1f MB)\n", float64(fullIO)/1e6, float64(fullIO)/float64(fi.Size()), float64(fi.Size())/1e6)
	}
	fmt.Println()

	// Change a share of the deals through the API, as users would, twice:
	// the first incremental run also reads back every contact the full
	// sync wrote (their modification date moved); the second shows the
	// steady state, where only the last run's few writes come back.
	// A third run follows with nothing changed in HubSpot. All three are on
	// the full sync's day, so they compute only the customers whose inputs
	// changed (the first run of a new day computes everyone, like the full
	// sync's compute phase).
	for i, label := range []string{"incremental sync (right after the full sync's writes)", "steady-state incremental sync", "run with nothing changed"} {
		pct := changePct
		if i == 2 {
			pct = 0
		}
		changed, err := changeDeals(ctx, client, store, pct, i)
		if err != nil {
			return err
		}
		if reopen {
			// What bbolt keeps for the life of an open file (its record
			// of the pages this process allocated) starts empty.
			if err := store.Close(); err != nil {
				return err
			}
			reopened, err := state.Open(cfg.State.Path, state.Options{})
			if err != nil {
				store = nil // closed: nothing for the deferred close
				return err
			}
			store, runner.Store = reopened, reopened
		}
		resetPeak(store) // changeDeals read the whole store in this process
		profileRunN.Store(int64(i + 1))
		resetHub(base)
		exchanges.take()
		calls.Store(0)
		if day := time.Now().UTC().Format(time.DateOnly); day != fullDay {
			fmt.Printf("(note: this run is on %s UTC, the full sync was on %s: it computes every customer, as the day's first run)\n", day, fullDay)
		}
		pullCPU = 0
		start = time.Now()
		cpuAtStart, ioAtStart = cpuTime(), writeBytes()
		stopRun, err := profileRun(i + 1)
		if err != nil {
			return err
		}
		rep2, err := runner.Run(ctx, hsync.RunOptions{})
		stopRun()
		if err != nil {
			return fmt.Errorf("%s: %w", label, err)
		}
		incCPU, incIO := cpuTime()-cpuAtStart, writeBytes()-ioAtStart
		byEndpoint := exchanges.take()
		hs2 := hubStats(base)
		fmt.Printf("%s after changing %d deals (%.1f%%)\n", label, changed, pct)
		fmt.Printf("  deals pulled %d, contacts pulled %d, customers computed %d of %d, written %d\n",
			rep2.Pulled.Deals, rep2.Pulled.Contacts, rep2.Computed, rep2.Customers, rep2.Written)
		fmt.Printf("  API calls        %d (search %d, association reads %d, batch reads %d, writes %d, lists (archived scans, contacts read back) %d), 429s %d\n",
			rep2.APICalls, hs2.search, hs2.assoc, hs2.batchRead, hs2.writes, hs2.list, hs2.rateLimited)
		fmt.Printf("  HTTP time        %s\n", byEndpoint)
		fmt.Printf("  calls per changed deal %.3f\n", float64(rep2.APICalls)/float64(max(changed, 1)))
		fmt.Printf("  phases           pull %.1fs, compute %.1fs, write %.1fs\n", rep2.Phases.Pull.Seconds(), rep2.Phases.Compute.Seconds(), rep2.Phases.Write.Seconds())
		fmt.Printf("  wall time        %s, CPU %s (pull %s), disk written %.1f MB\n", time.Since(start).Round(time.Millisecond),
			incCPU.Round(time.Millisecond), pullCPU.Round(time.Millisecond), float64(incIO)/1e6)
		fmt.Printf("  peak RSS         %s\n", peakLine())
		fmt.Printf("  at HubSpot's real limits its %d searches alone take %.0f s (search: %d requests/s per portal)\n\n",
			hs2.search, float64(hs2.search)/hubspotSearchPerSecond, hubspotSearchPerSecond)
	}
	fi, err := os.Stat(cfg.State.Path)
	if err != nil {
		return err
	}
	fmt.Printf("now: %s anonymous, %s file-backed (bbolt maps the state file); peak Go heap in use %.0f MB over all runs, state file %.1f MB\n",
		procStatus("RssAnon"), procStatus("RssFile"), float64(peakHeap.Load())/1e6, float64(fi.Size())/1e6)
	return nil
}

// profileRun starts a CPU profile of incremental run n when -runprofile
// is set, and returns what stops it.
func profileRun(n int) (func(), error) {
	if incProfile == "" {
		return func() {}, nil
	}
	f, err := os.Create(fmt.Sprintf("%s.%d", incProfile, n))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// exchanges sums the HTTP exchanges of a run by endpoint: how long they
// took and waited for the rate limiter, to see where an incremental run's
// time goes.
var exchanges = &exchangeTimes{}

type exchangeTimes struct {
	mu sync.Mutex
	m  map[string]*exchangeTime
}

type exchangeTime struct {
	n            int
	took, waited time.Duration
}

func (e *exchangeTimes) add(ev hubspot.RequestEvent) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.m == nil {
		e.m = map[string]*exchangeTime{}
	}
	t := e.m[ev.Endpoint]
	if t == nil {
		t = &exchangeTime{}
		e.m[ev.Endpoint] = t
	}
	t.n++
	t.took += ev.Duration
	t.waited += ev.Waited
}

// take returns the sums since the last take, one endpoint after another,
// and starts again.
func (e *exchangeTimes) take() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	names := make([]string, 0, len(e.m))
	for n := range e.m {
		names = append(names, n)
	}
	slices.Sort(names)
	var b strings.Builder
	for i, n := range names {
		t := e.m[n]
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s %d calls, %.1fs in flight (%.0f ms each), %.1fs waiting for the limiter", n, t.n, t.took.Seconds(),
			float64(t.took.Milliseconds())/float64(t.n), t.waited.Seconds())
	}
	e.m = nil
	return b.String()
}

func tierBurst(tier string) int {
	switch tier {
	case "free", "starter":
		return 100
	case "api-pack":
		return 250
	}
	return 190
}

func ceil(n, d int) int { return int(math.Ceil(float64(n) / float64(d))) }

// hubspotSearchPerSecond is HubSpot's CRM search limit per portal.
const hubspotSearchPerSecond = 5

// changeDeals bumps the amount of pct% of the stored deals by 10%; offset
// picks another pct% each time.
func changeDeals(ctx context.Context, c *hubspot.Client, st *state.Store, pct float64, offset int) (int, error) {
	if pct <= 0 {
		return 0, nil
	}
	every := int(math.Max(1, math.Round(100/pct)))
	var ids []string
	i := 0
	err := st.ForEachCustomer(func(_ state.Contact, deals []state.Deal) error {
		for _, d := range deals {
			if (i+offset)%every == 0 && d.Amount.Valid {
				ids = append(ids, d.ID)
			}
			i++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	seen := map[string]bool{}
	var batch []hubspot.UpdateInput
	n := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := c.Deals.BatchUpdate(ctx, batch)
		n += len(batch)
		batch = batch[:0]
		return err
	}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		d, _, err := st.Deal(id)
		if err != nil {
			return n, err
		}
		amt := d.Amount.Decimal.Mul(decimalOnePointOne())
		batch = append(batch, hubspot.UpdateInput{ID: id, Properties: map[string]string{"amount": amt.StringFixed(2)}})
		if len(batch) == 100 {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	return n, flush()
}

type hubCounts struct {
	pull, writes, search, assoc, batchRead, list, rateLimited int
}

// hubStats reads fakehub's per-endpoint request counts.
func hubStats(base string) hubCounts {
	resp, err := http.Get(base + "/_fakehub/stats")
	if err != nil {
		return hubCounts{}
	}
	defer resp.Body.Close()
	var raw map[string]any
	json.NewDecoder(resp.Body).Decode(&raw)
	var hc hubCounts
	if v, ok := raw["rateLimited"].(float64); ok {
		hc.rateLimited = int(v)
	}
	byEndpoint, _ := raw["requests"].(map[string]any)
	for k, v := range byEndpoint {
		n := int(v.(float64))
		switch {
		case strings.Contains(k, "/batch/update"):
			hc.writes += n
		case strings.Contains(k, "/search"):
			hc.search += n
			hc.pull += n
		case strings.Contains(k, "associations") && strings.Contains(k, "batch/read"):
			hc.assoc += n
			hc.pull += n
		case strings.Contains(k, "/batch/read"):
			hc.batchRead += n
			hc.pull += n
		case strings.HasPrefix(k, "GET /crm/") && strings.Contains(k, "objects"):
			hc.list += n
			hc.pull += n
		}
	}
	return hc
}

// resetPeak returns what the bench itself used (changeDeals scans the store)
// and restarts the peak RSS count (VmHWM), so the next run's peak is its own.
func resetPeak(store *state.Store) {
	_ = store.ReleaseMapped()
	debug.FreeOSMemory()
	peakMu.Lock()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	peakAt = peakRSS{}
	peakMu.Unlock()
	spikeReset.Store(true)
}

func resetHub(base string) {
	resp, err := http.Post(base+"/_fakehub/stats/reset", "application/json", nil)
	if err == nil {
		resp.Body.Close()
	}
}

// peakAt is where the process's peak RSS was reached: the phase and the
// resident set's split just after.
var (
	peakMu sync.Mutex
	peakAt peakRSS
)

type peakRSS struct{ hwm, phase, anon, file string }

// peakLine says the peak RSS since the last resetPeak and where it was
// reached.
func peakLine() string {
	peakMu.Lock()
	defer peakMu.Unlock()
	return fmt.Sprintf("%s (reached in phase %q; just after: %s anonymous, %s file-backed)", procStatus("VmHWM"), peakAt.phase, peakAt.anon, peakAt.file)
}

// phase is the phase the runner last reported progress in, for -memtrace;
// where adds the progress reported (peak RSS lines).
var phase, where atomic.Value // string

// sampleEvery is -sample.
var sampleEvery time.Duration

// benchLogger is the runs' logger (-log).
var benchLogger = slog.New(slog.DiscardHandler)

// pullProfile is the -cpuprofile path, incProfile the -runprofile one,
// fullComputeProfile the -computeprofile one.
var pullProfile, incProfile, fullComputeProfile string

// profileRunN is the incremental run under way (0: the full sync), for
// -memprofile's file names.
var profileRunN atomic.Int64

// peakHeap is the largest HeapInuse seen by sampleHeap.
var peakHeap atomic.Uint64

// sampleHeap records the Go heap in use every 100 ms.
// sampleHeap records the peak heap in use; with a profile path it also
// writes a heap profile whenever the peak grows by 5%, so the file ends up
// showing what was live at (about) the peak; with trace it prints the heap
// and RSS every second to stderr.
func sampleHeap(profile string, trace bool) {
	var ms runtime.MemStats
	var profiled uint64
	var profiledRun int64
	var profiledPhase string
	var traced time.Time
	for range time.Tick(sampleEvery) {
		runtime.ReadMemStats(&ms)
		if trace && time.Since(traced) >= time.Second {
			traced = time.Now()
			fmt.Fprintf(os.Stderr, "%s heap in use %d MB, next GC at %d MB, RSS %s (anonymous %s, file-backed %s) %s; runtime: %s\n",
				traced.Format("15:04:05"), ms.HeapInuse>>20, ms.NextGC>>20, procStatus("VmRSS"), procStatus("RssAnon"), procStatus("RssFile"), phase.Load(), runtimeClasses())
		}
		if ms.HeapInuse > peakHeap.Load() {
			peakHeap.Store(ms.HeapInuse)
		}
		// Where the peak RSS was reached (at this tick's resolution).
		peakMu.Lock()
		if hwm := procStatus("VmHWM"); hwm != peakAt.hwm {
			peakAt = peakRSS{hwm: hwm, phase: where.Load().(string), anon: procStatus("RssAnon"), file: procStatus("RssFile")}
			if trace {
				fmt.Fprintf(os.Stderr, "%s peak RSS %s at %q: %s anonymous, %s file-backed, heap in use %d MB\n",
					time.Now().Format("15:04:05.000"), hwm, peakAt.phase, peakAt.anon, peakAt.file, ms.HeapInuse>>20)
			}
		}
		peakMu.Unlock()
		run, ph := profileRunN.Load(), phase.Load().(string)
		if run != profiledRun || ph != profiledPhase {
			profiledRun, profiledPhase, profiled = run, ph, 0 // each run's and phase's profile shows its own peak
		}
		if profile != "" && ms.HeapInuse > profiled+profiled/20 {
			profiled = ms.HeapInuse
			path := profile
			if profiledRun > 0 {
				path = fmt.Sprintf("%s.%d", profile, profiledRun)
			}
			if ph != "" {
				path += "." + ph
			}
			if f, err := os.Create(path); err == nil {
				_ = pprof.WriteHeapProfile(f)
				f.Close()
			}
		}
	}
}

// procStatus reads a memory line (in kB) from /proc/self/status.
func procStatus(key string) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, key+":") {
			f := strings.Fields(line)
			if kb, err := strconv.Atoi(f[1]); err == nil {
				return fmt.Sprintf("%.0f MB", float64(kb)/1024)
			}
		}
	}
	return "unknown"
}

func decimalOnePointOne() decimal.Decimal { return decimal.RequireFromString("1.1") }

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// writeBytes is what the process has caused to be written to storage so
// far (write_bytes in /proc/self/io), or -1 where that is not available.
func writeBytes() int64 {
	b, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err == nil {
				return n
			}
		}
	}
	return -1
}

// watchSpikes reads the resident set every millisecond and, when it has
// grown by at least jump bytes over the last 5 ms or passed the highest it
// has been since the last resetPeak, prints the stacks of the goroutines in
// clvsync's packages: what was running as the pages came in (transient
// peaks last a few milliseconds, too short for -sample).
func watchSpikes(jump int64) {
	var ring [5]int64
	i := 0
	page := int64(os.Getpagesize())
	var last time.Time
	var high int64
	buf := make([]byte, 1<<20)
	for range time.Tick(time.Millisecond) {
		raw, err := os.ReadFile("/proc/self/statm")
		if err != nil {
			return
		}
		f := strings.Fields(string(raw))
		if len(f) < 3 {
			return
		}
		rss, _ := strconv.ParseInt(f[1], 10, 64)
		shared, _ := strconv.ParseInt(f[2], 10, 64)
		rss *= page
		oldest := ring[i%len(ring)]
		ring[i%len(ring)] = rss
		i++
		if spikeReset.CompareAndSwap(true, false) {
			high = rss
		}
		what := ""
		switch {
		case rss > high+1<<20:
			high, what = rss, "new high"
		case i > len(ring) && rss-oldest >= jump && time.Since(last) >= 50*time.Millisecond:
			what = "jump"
		default:
			continue
		}
		last = time.Now()
		n := runtime.Stack(buf, true)
		fmt.Fprintf(os.Stderr, "%s RSS %s %d -> %d MB (file-backed %d MB) in %q\n", last.Format("15:04:05.000"), what, oldest>>20, rss>>20, shared*page>>20, where.Load())
		for _, g := range strings.Split(string(buf[:n]), "\n\n") {
			if strings.Contains(g, "clvsync/state") || strings.Contains(g, "clvsync/sync.") {
				fmt.Fprintln(os.Stderr, g)
			}
		}
	}
}

// spikeReset is set by resetPeak for watchSpikes.
var spikeReset atomic.Bool

// runtimeClasses is the Go runtime's own account of the memory it holds
// from the system (runtime/metrics' /memory/classes), in MB: live and dead
// heap objects, free heap not yet returned, heap fragmentation (unused),
// stacks, and the runtime's metadata and other.
func runtimeClasses() string {
	names := []string{"/memory/classes/heap/objects:bytes", "/memory/classes/heap/free:bytes", "/memory/classes/heap/unused:bytes",
		"/memory/classes/heap/stacks:bytes", "/memory/classes/os-stacks:bytes", "/memory/classes/metadata/other:bytes",
		"/memory/classes/metadata/mspan/inuse:bytes", "/memory/classes/metadata/mspan/free:bytes", "/memory/classes/other:bytes",
		"/memory/classes/profiling/buckets:bytes"}
	samples := make([]metrics.Sample, len(names))
	for i, n := range names {
		samples[i].Name = n
	}
	metrics.Read(samples)
	var b strings.Builder
	for i, s := range samples {
		if s.Value.Kind() != metrics.KindUint64 {
			continue
		}
		name := strings.TrimSuffix(strings.TrimPrefix(names[i], "/memory/classes/"), ":bytes")
		fmt.Fprintf(&b, " %s %.1f", name, float64(s.Value.Uint64())/(1<<20))
	}
	return strings.TrimSpace(b.String())
}
