package sync

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"

	"github.com/shopspring/decimal"

	"github.com/clvsync/clvsync/clv"
)

// scaleKeys is what computeAll's second pass keeps of every customer to
// make the base's scales: the tier value, the buyers' RFM keys, and the CLV
// and relationship months the quadrant's medians are taken from. They are
// kept in a temporary file beside the state file (48 bytes a customer: 12
// MB at 250k customers, held in memory through pass 2 before), and the
// scales are made from one column at a time (scalesOf).
type scaleKeys struct {
	*spillFile
	n   int // customers
	rec [keyRecord]byte
}

// A customer's keys: six floats, in this order. A customer without orders
// has no RFM key: its recency is NaN (a buyer's is a Unix time).
const (
	keyTier = iota
	keyR
	keyF
	keyM
	keyCLV
	keyMonths
	keyColumns
	keyRecord = 8 * keyColumns
)

func newScaleKeys(dir string) (*scaleKeys, error) {
	f, err := newSpillFile(dir, "the scales' keys")
	if err != nil {
		return nil, err
	}
	return &scaleKeys{spillFile: f}, nil
}

// add keeps one customer's keys; rfm only when buyer.
func (k *scaleKeys) add(tier float64, rfm clv.RFMKey, buyer bool, quadCLV, quadMonths float64) error {
	if !buyer {
		rfm = clv.RFMKey{R: math.NaN()}
	}
	for i, f := range [keyColumns]float64{keyTier: tier, keyR: rfm.R, keyF: rfm.F, keyM: rfm.M, keyCLV: quadCLV, keyMonths: quadMonths} {
		binary.LittleEndian.PutUint64(k.rec[8*i:], math.Float64bits(f))
	}
	if err := k.write(k.rec[:]); err != nil {
		return err
	}
	k.n++
	return nil
}

// column reads one column of the keys into dst[:0] (the RFM columns hold
// the buyers' only). A nil dst is made to hold every customer's.
func (k *scaleKeys) column(col int, dst []float64) ([]float64, error) {
	if dst == nil {
		dst = make([]float64, 0, k.n)
	}
	dst = dst[:0]
	if err := k.rewind(); err != nil {
		return nil, err
	}
	rfm := col == keyR || col == keyF || col == keyM
	for {
		if _, err := io.ReadFull(k.r, k.rec[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return dst, nil
			}
			return nil, k.readErr(err)
		}
		f := func(i int) float64 { return math.Float64frombits(binary.LittleEndian.Uint64(k.rec[8*i:])) }
		if rfm && math.IsNaN(f(keyR)) {
			continue
		}
		dst = append(dst, f(col))
	}
}

// scalesOf makes the scales of a base from every customer's keys: tier
// values, buyers' RFM keys, and CLV and relationship months (their medians
// are the quadrant's thresholds unless the config sets them). One column
// of keys is read at a time, into one buffer, and sorted in place: besides
// the tier values the scale keeps, it holds 8 bytes a customer. The CLVs
// are their float64 images; the exact median is found among the values
// eachCLV reads again (exactMedian).
func (r *Runner) scalesOf(keys *scaleKeys, eachCLV func(func(decimal.Decimal) error) error) (scales, error) {
	var out scales
	qcfg, err := r.Config.CLVQuadrant()
	if err != nil {
		return out, err
	}
	if err := qcfg.Validate(); err != nil {
		return out, fmt.Errorf("segments.quadrant: %w", err)
	}
	col, err := keys.column(keyTier, nil)
	if err != nil {
		return out, err
	}
	out.tiers = clv.NewTierScaleOf(col)
	for _, d := range []struct {
		col int
		b   *clv.RFMBounds
	}{{keyR, &out.rfm.R}, {keyF, &out.rfm.F}, {keyM, &out.rfm.M}} {
		if col, err = keys.column(d.col, col); err != nil {
			return out, err
		}
		slices.Sort(col)
		*d.b = clv.RFMBoundsOf(col)
	}
	if col, err = keys.column(keyMonths, col); err != nil {
		return out, err
	}
	out.quadCLV, out.quadMonths = clv.QuadrantThresholds(nil, col, qcfg)
	if qcfg.CLVThreshold == nil && keys.n > 0 {
		if col, err = keys.column(keyCLV, col); err != nil {
			return out, err
		}
		if out.quadCLV, err = exactMedian(col, eachCLV); err != nil {
			return out, err
		}
	}
	return out, nil
}
