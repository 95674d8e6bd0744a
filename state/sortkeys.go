package state

import (
	"bufio"
	"bytes"
	"container/heap"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// sortedKeys collects keys and gives them back in byte order holding at
// most limit of them in memory: past that it sorts those it holds into a
// run in a temporary file and merges the runs at the end (an external
// merge sort). The file is removed as soon as it is created on systems
// that allow it (it lives while open, and a killed process leaves nothing
// behind), else by close.
type sortedKeys struct {
	dir   string
	limit int
	mem   pairKeys
	f     *os.File
	name  string
	w     *bufio.Writer
	runs  []int64 // each run's end offset in f
	at    int64
	varb  []byte
}

func newSortedKeys(dir string, limit int) *sortedKeys {
	return &sortedKeys{dir: dir, limit: max(limit, 1)}
}

// add adds the key prefix+a+sep+b.
func (s *sortedKeys) add(prefix byte, a, b string) error {
	if s.mem.add(prefix, a, b); len(s.mem.ends) < s.limit {
		return nil
	}
	return s.spill()
}

// spill writes the keys held, sorted, as a run of length-prefixed keys.
func (s *sortedKeys) spill() error {
	if s.f == nil {
		f, err := os.CreateTemp(s.dir, ".clvsync-sort-*")
		if err != nil {
			return fmt.Errorf("a temporary file to sort index entries in: %w (the state file's directory must be writable)", err)
		}
		s.f, s.name, s.w = f, f.Name(), bufio.NewWriterSize(f, 64<<10)
		if os.Remove(f.Name()) == nil {
			s.name = ""
		}
	}
	for _, i := range s.mem.sorted() {
		k := s.mem.key(i)
		s.varb = binary.AppendUvarint(s.varb[:0], uint64(len(k)))
		if _, err := s.w.Write(s.varb); err != nil {
			return fmt.Errorf("write sorted index entries: %w", err)
		}
		if _, err := s.w.Write(k); err != nil {
			return fmt.Errorf("write sorted index entries: %w", err)
		}
		s.at += int64(len(s.varb) + len(k))
	}
	s.runs = append(s.runs, s.at)
	s.mem.reset()
	return nil
}

// each calls fn with every key added, in byte order; the key is valid only
// during the call.
func (s *sortedKeys) each(fn func(key []byte) error) error {
	if s.f == nil { // all in memory
		for _, i := range s.mem.sorted() {
			if err := fn(s.mem.key(i)); err != nil {
				return err
			}
		}
		return nil
	}
	if len(s.mem.ends) > 0 {
		if err := s.spill(); err != nil {
			return err
		}
	}
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("write sorted index entries: %w", err)
	}
	h := make(runHeap, 0, len(s.runs))
	start := int64(0)
	for _, end := range s.runs {
		r := &run{r: bufio.NewReaderSize(io.NewSectionReader(s.f, start, end-start), 32<<10)}
		start = end
		if ok, err := r.next(); err != nil {
			return err
		} else if ok {
			h = append(h, r)
		}
	}
	heap.Init(&h)
	for len(h) > 0 {
		r := h[0]
		if err := fn(r.key); err != nil {
			return err
		}
		ok, err := r.next()
		if err != nil {
			return err
		}
		if ok {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
		}
	}
	return nil
}

func (s *sortedKeys) close() {
	if s.f != nil {
		s.f.Close()
		if s.name != "" {
			os.Remove(s.name)
		}
	}
}

// run reads one sorted run back.
type run struct {
	r   *bufio.Reader
	key []byte
}

// next reads the run's next key; ok is false at its end.
func (r *run) next() (ok bool, err error) {
	n, err := binary.ReadUvarint(r.r)
	if errors.Is(err, io.EOF) {
		return false, nil
	}
	if err == nil && n > 1<<16 {
		err = fmt.Errorf("a key of %d bytes", n)
	}
	if err == nil {
		r.key = slices.Grow(r.key[:0], int(n))[:n]
		_, err = io.ReadFull(r.r, r.key)
	}
	if err != nil {
		return false, fmt.Errorf("read sorted index entries back: %w", err)
	}
	return true, nil
}

type runHeap []*run

func (h runHeap) Len() int           { return len(h) }
func (h runHeap) Less(i, j int) bool { return bytes.Compare(h[i].key, h[j].key) < 0 }
func (h runHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *runHeap) Push(x any)        { *h = append(*h, x.(*run)) }
func (h *runHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	*h = old[:len(old)-1]
	return r
}

// pairKeys holds keys back to back in one buffer, so
// collecting a million of them is a few allocations, not a million.
type pairKeys struct {
	buf  []byte
	ends []int
}

// add adds the key prefix+a+sep+b.
func (p *pairKeys) add(prefix byte, a, b string) {
	p.buf = append(append(append(append(p.buf, prefix), a...), sep), b...)
	p.ends = append(p.ends, len(p.buf))
}

// push adds the key k.
func (p *pairKeys) push(k []byte) {
	p.buf = append(p.buf, k...)
	p.ends = append(p.ends, len(p.buf))
}

// reset empties p, keeping its memory.
func (p *pairKeys) reset() { p.buf, p.ends = p.buf[:0], p.ends[:0] }

// key returns the i-th key added.
func (p *pairKeys) key(i int) []byte {
	start := 0
	if i > 0 {
		start = p.ends[i-1]
	}
	return p.buf[start:p.ends[i]:p.ends[i]]
}

// sorted returns the keys' positions in key order.
func (p *pairKeys) sorted() []int {
	order := make([]int, len(p.ends))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int { return bytes.Compare(p.key(x), p.key(y)) })
	return order
}
