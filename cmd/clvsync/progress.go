package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/clvsync/clvsync/sync/config"
)

// progressEvery is how often, off a terminal, a run logs how far its phase
// has come.
const progressEvery = 10 * time.Second

// runUI is what a run shows while it works: on a terminal, a bar per phase
// (done/total, rate, ETA) with log lines printed above the bars, never on
// them; elsewhere (systemd, Kubernetes, CI, a pipe) a progress log line per
// phase every progressEvery, with counts, rate and ETA.
type runUI struct {
	Logger *slog.Logger
	// Progress is the sync.Runner's progress callback.
	Progress func(phase string, done, total int)
	// Done finishes the bars; call it before printing the summary. It may
	// be called more than once.
	Done func()
}

// newRunUI builds the logger and the progress display of a run writing to
// stderr. secret is redacted from every log line.
func newRunUI(stderr io.Writer, ops config.OperationsConfig, secret string) runUI {
	// A terminal that reports no width (a pty nobody sized) cannot show
	// bars: it gets the progress lines.
	if !isTerminal(stderr) || terminalWidth(stderr) < 40 {
		logger := newLogger(stderr, ops, secret)
		lp := &logProgress{log: logger, now: time.Now, every: progressEvery, phases: map[string]*phaseClock{}}
		return runUI{Logger: logger, Progress: lp.update, Done: func() {}}
	}
	p := mpb.New(mpb.WithOutput(stderr), mpb.WithRefreshRate(150*time.Millisecond))
	w := &barWriter{p: p, w: stderr}
	if ops.LogFormat == "" || ops.LogFormat == "auto" {
		ops.LogFormat = "text"
	}
	b := &bars{p: p, bars: map[string]*mpb.Bar{}}
	return runUI{Logger: newLogger(w, ops, secret), Progress: b.update, Done: sync.OnceFunc(func() {
		b.finish()
		w.mu.Lock()
		defer w.mu.Unlock()
		w.done = true
		p.Wait()
	})}
}

// barWriter sends log lines above the bars while they are drawn, and
// straight to the terminal once they are gone.
type barWriter struct {
	mu   sync.Mutex
	p    *mpb.Progress
	w    io.Writer
	done bool
}

func (b *barWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return b.w.Write(p)
	}
	return b.p.Write(p)
}

// bars draws one bar per phase; a phase with no known total gets a
// spinner with its count and rate.
type bars struct {
	mu    sync.Mutex
	p     *mpb.Progress
	bars  map[string]*mpb.Bar
	order []string
}

func (b *bars) update(phase string, done, total int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	bar, ok := b.bars[phase]
	if !ok {
		b.finishLocked()
		name := decor.Name(fmt.Sprintf("%-16s", phase))
		if total > 0 {
			bar = b.p.New(int64(total), mpb.BarStyle(), mpb.PrependDecorators(name, decor.CountersNoUnit("%d / %d")),
				mpb.AppendDecorators(decor.Percentage(decor.WC{W: 5}), decor.Name(" "), decor.AverageSpeed(nil, "%.0f/s"),
					decor.Name(" ETA "), decor.OnComplete(decor.AverageETA(decor.ET_STYLE_GO), "done")))
		} else {
			bar = b.p.New(0, mpb.SpinnerStyle(), mpb.PrependDecorators(name, decor.CurrentNoUnit("%d")),
				mpb.AppendDecorators(decor.Name(" "), decor.AverageSpeed(nil, "%.0f/s")))
		}
		b.bars[phase] = bar
		b.order = append(b.order, phase)
	}
	if total > 0 && int64(total) != bar.Current() {
		bar.SetTotal(int64(max(total, done)), false)
	}
	bar.SetCurrent(int64(done))
}

// finishLocked completes the bars of earlier phases: a run moves from
// one phase to the next.
func (b *bars) finishLocked() {
	for _, ph := range b.order {
		bar := b.bars[ph]
		if !bar.Completed() && !bar.Aborted() {
			bar.SetTotal(bar.Current(), true)
		}
	}
}

func (b *bars) finish() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.finishLocked()
}

// logProgress logs a phase's progress every `every`, on the clock now.
type logProgress struct {
	mu     sync.Mutex
	log    *slog.Logger
	now    func() time.Time
	every  time.Duration
	phases map[string]*phaseClock
}

type phaseClock struct{ started, logged time.Time }

func (l *logProgress) update(phase string, done, total int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	pc, ok := l.phases[phase]
	if !ok {
		l.phases[phase] = &phaseClock{started: now, logged: now}
		return
	}
	if now.Sub(pc.logged) < l.every {
		return
	}
	pc.logged = now
	elapsed := now.Sub(pc.started)
	rate := float64(done) / max(elapsed.Seconds(), 1e-9)
	args := []any{"phase", phase, "done", done, "rate_per_s", fmt.Sprintf("%.1f", rate), "elapsed", elapsed.Round(time.Second)}
	if total > 0 {
		eta := "-"
		if done > 0 && done < total {
			eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
		}
		args = append(args, "total", total, "eta", eta)
	}
	l.log.Info("progress", args...)
}

// terminalWidth is the width of the terminal w, or 0.
func terminalWidth(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	width, _, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0
	}
	return width
}
