package main

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// newProgress returns a progress callback that draws one bar per phase on a
// terminal, or nil when w is not a terminal (logs and CI output stay clean).
func newProgress(w io.Writer) func(phase string, done, total int) {
	if !isTerminal(w) {
		return nil
	}
	p := &progress{w: w}
	return p.update
}

type progress struct {
	mu      sync.Mutex
	w       io.Writer
	phase   string
	started time.Time
	last    time.Time
}

func (p *progress) update(phase string, done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if phase != p.phase {
		if p.phase != "" {
			fmt.Fprintln(p.w)
		}
		p.phase, p.started = phase, now
	} else if now.Sub(p.last) < 100*time.Millisecond && done != total {
		return
	}
	p.last = now
	fmt.Fprint(p.w, "\r"+renderBar(phase, done, total, now.Sub(p.started)))
}

// renderBar draws "phase [#####.....] done/total ETA 3s"; with total 0 it
// shows the count only.
func renderBar(phase string, done, total int, elapsed time.Duration) string {
	if total <= 0 {
		return fmt.Sprintf("%-14s %d", phase, done)
	}
	const width = 30
	filled := min(width, done*width/max(total, 1))
	eta := "-"
	if done > 0 && done < total {
		eta = (time.Duration(float64(elapsed) / float64(done) * float64(total-done))).Round(time.Second).String()
	}
	return fmt.Sprintf("%-14s [%s%s] %d/%d ETA %s", phase, strings.Repeat("#", filled), strings.Repeat(".", width-filled), done, total, eta)
}
