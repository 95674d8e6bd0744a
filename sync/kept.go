package sync

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/shopspring/decimal"

	"github.com/clvsync/clvsync/clv"
)

// keptSpill holds computeAll's kept predictions between its second and
// third pass in a temporary file beside the state file: pass 2 writes them
// in customer order and pass 3 reads them back in the same order, so the
// run holds none of them in memory (about 100 bytes a customer: 27 MB at
// 300k contacts, 85 MB at 1M, held through both passes before).
type keptSpill struct {
	*spillFile
	n   int // predictions written
	buf []byte
}

func newKeptSpill(dir string) (*keptSpill, error) {
	f, err := newSpillFile(dir, "the predictions between passes")
	if err != nil {
		return nil, err
	}
	return &keptSpill{spillFile: f}, nil
}

// spillFile is a temporary file beside the state file that computeAll
// writes once and reads back in order, as many times as it needs. It is
// removed as soon as it is created on systems that allow it (it lives while
// open, and a killed run leaves nothing behind), else when closed. It is
// read and written through buffers, never mapped: its pages are the
// kernel's page cache, not the process's memory.
type spillFile struct {
	f    *os.File
	w    *bufio.Writer
	r    *bufio.Reader
	what string // for errors: "the predictions between passes"
	name string
}

func newSpillFile(dir, what string) (*spillFile, error) {
	f, err := os.CreateTemp(dir, ".clvsync-compute-*")
	if err != nil {
		return nil, fmt.Errorf("compute: a temporary file for %s: %w (the state file's directory must be writable)", what, err)
	}
	s := &spillFile{f: f, w: bufio.NewWriterSize(f, 64<<10), what: what, name: f.Name()}
	if os.Remove(f.Name()) == nil {
		s.name = ""
	}
	return s, nil
}

// write appends b.
func (s *spillFile) write(b []byte) error {
	if _, err := s.w.Write(b); err != nil {
		return fmt.Errorf("compute: write %s: %w", s.what, err)
	}
	return nil
}

// readErr is err from reading the file, said so.
func (s *spillFile) readErr(err error) error {
	return fmt.Errorf("compute: read %s: %w", s.what, err)
}

// rewind ends the writing and starts reading from the beginning; it may
// be called again to read it all again.
func (s *spillFile) rewind() error {
	if err := s.w.Flush(); err != nil {
		return fmt.Errorf("compute: write %s: %w", s.what, err)
	}
	if _, err := s.f.Seek(0, io.SeekStart); err != nil {
		return s.readErr(err)
	}
	if s.r == nil {
		s.r = bufio.NewReaderSize(s.f, 64<<10)
	} else {
		s.r.Reset(s.f)
	}
	return nil
}

// close closes and removes the file; it may be called again.
func (s *spillFile) close() {
	if s.f == nil {
		return
	}
	s.f.Close()
	s.f = nil
	if s.name != "" {
		os.Remove(s.name)
	}
}

// keptFixed is the encoded size of a prediction without its flags: the id
// hash and eight floats.
const keptFixed = 8 + 8*8

func (s *keptSpill) write(k keptPrediction) error {
	b := binary.LittleEndian.AppendUint64(s.buf[:0], k.id)
	for _, f := range [...]float64{k.pred.ExpectedPurchases, k.pred.PAlive, k.pred.ExpectedSpend, k.pred.CLV, k.band.lo, k.band.hi, k.band.variance, k.band.psd} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	b = binary.AppendUvarint(b, uint64(len(k.pred.Flags)))
	for _, fl := range k.pred.Flags {
		b = binary.AppendUvarint(b, uint64(len(fl.Kind)))
		b = append(b, fl.Kind...)
		b = binary.AppendUvarint(b, uint64(len(fl.Reason)))
		b = append(b, fl.Reason...)
	}
	total := k.total.String()
	b = binary.AppendUvarint(b, uint64(len(total)))
	b = append(b, total...)
	s.buf = b
	if err := s.spillFile.write(b); err != nil {
		return err
	}
	s.n++
	return nil
}

// next reads the next prediction; ok is false after the last one.
func (s *keptSpill) next() (k keptPrediction, ok bool, err error) {
	var fixed [keptFixed]byte
	if _, err := io.ReadFull(s.r, fixed[:]); err != nil {
		if errors.Is(err, io.EOF) {
			return k, false, nil
		}
		return k, false, s.readErr(err)
	}
	f := func(i int) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(fixed[8+8*i:])) }
	k.id = binary.LittleEndian.Uint64(fixed[:])
	k.pred = clv.Prediction{ExpectedPurchases: f(0), PAlive: f(1), ExpectedSpend: f(2), CLV: f(3)}
	k.band = band{lo: f(4), hi: f(5), variance: f(6), psd: f(7)}
	n, err := binary.ReadUvarint(s.r)
	for i := uint64(0); err == nil && i < n; i++ {
		var kind, reason string
		if kind, err = s.str(); err == nil {
			reason, err = s.str()
		}
		k.pred.Flags = append(k.pred.Flags, clv.Flag{Kind: clv.FlagKind(kind), Reason: reason})
	}
	if err == nil {
		var total string
		if total, err = s.str(); err == nil {
			k.total, err = decimal.NewFromString(total)
		}
	}
	if err != nil {
		return k, false, s.readErr(err)
	}
	return k, true, nil
}

func (s *keptSpill) str() (string, error) {
	n, err := binary.ReadUvarint(s.r)
	if err != nil {
		return "", err
	}
	if n > 1<<20 {
		return "", fmt.Errorf("a string of %d bytes", n) // a flag's kind or reason, or a CLV
	}
	b := make([]byte, n)
	_, err = io.ReadFull(s.r, b)
	return string(b), err
}
