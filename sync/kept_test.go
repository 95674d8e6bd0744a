package sync

import (
	"math"
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/clvsync/clvsync/clv"
)

// The predictions come back from the file in order, flags and all, and the
// file leaves nothing behind in the state file's directory.
func TestKeptSpill_RoundTrip(t *testing.T) {
	dir := t.TempDir()
	s, err := newKeptSpill(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []keptPrediction{
		{id: 1, pred: clv.Prediction{ExpectedPurchases: 1.5, PAlive: 0.25, ExpectedSpend: 80.125, CLV: 120.0625}, band: band{lo: 1, hi: 2, variance: 3, psd: 4},
			total: decimal.RequireFromString("1234.56789012345678901234")},
		{id: 2, pred: clv.Prediction{CLV: 7, Flags: clv.Flags{{Kind: clv.FlagNotConverged, Reason: "series stopped"}, {Kind: "x", Reason: ""}}},
			total: decimal.RequireFromString("-0.5")},
		{id: 3, total: decimal.Zero},
	}
	for _, k := range want {
		if err := s.write(k); err != nil {
			t.Fatal(err)
		}
	}
	// Read twice: the quadrant's median reads them once before pass 3.
	for range 2 {
		if err := s.rewind(); err != nil {
			t.Fatal(err)
		}
		var got []keptPrediction
		for {
			k, ok, err := s.next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			got = append(got, k)
		}
		for i := range got {
			if i < len(want) && !got[i].total.Equal(want[i].total) {
				t.Errorf("total %d read back %s, want %s", i, got[i].total, want[i].total)
			}
			got[i].total = want[i].total
		}
		if !reflect.DeepEqual(got, want) || s.n != len(want) {
			t.Errorf("read back %+v (%d written), want %+v", got, s.n, want)
		}
	}
	s.close()
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("files left in the state directory: %v", left)
	}
}

// A state directory clvsync cannot write to is named, not a panic.
func TestKeptSpill_UnwritableDirectory(t *testing.T) {
	if _, err := newKeptSpill("/nonexistent/clvsync"); err == nil {
		t.Fatal("no error for a missing directory")
	}
}

// The quadrant's median CLV is exact from the values' float images and a
// second read of the values: values a float cannot tell apart, ties, and
// even and odd counts give what sorting the decimals gives.
func TestExactMedian(t *testing.T) {
	for _, vals := range [][]string{
		{"1.00000000000000001", "1.00000000000000003", "1.00000000000000002"},
		{"1.00000000000000001", "1.00000000000000003", "1.00000000000000002", "0.5"},
		{"5", "5", "5", "1", "9"},
		{"3", "1"},
		{"7"},
		{"0", "0", "0", "0", "2.5", "-1"},
	} {
		ds := make([]decimal.Decimal, len(vals))
		images := make([]float64, len(vals))
		for i, v := range vals {
			ds[i] = decimal.RequireFromString(v)
			images[i] = ds[i].InexactFloat64()
		}
		want, _ := clv.QuadrantThresholds(slices.Clone(ds), nil, clv.QuadrantConfig{})
		got, err := exactMedian(images, func(fn func(decimal.Decimal) error) error {
			for _, d := range ds {
				if err := fn(d); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil || !got.Equal(want) {
			t.Errorf("median of %v: %s (%v), want %s", vals, got, err, want)
		}
	}
}

// The tier values come back from their text exactly, whatever their count,
// and text of the wrong length is refused.
func TestEachFloat(t *testing.T) {
	for _, n := range []int{0, 1, 511, 512, 513, 2000} {
		fs := make([]float64, n)
		for i := range fs {
			fs[i] = float64(i)*1.25 - 3
		}
		got := make([]float64, n)
		err := eachFloat([]byte(encodeFloats(fs)), n, func(i int, f float64) { got[i] = f })
		if err != nil || !slices.Equal(got, fs) {
			t.Errorf("%d values: %v, %v", n, err, len(got))
		}
		if err := eachFloat([]byte(encodeFloats(fs)), n+1, func(int, float64) {}); err == nil {
			t.Errorf("%d values decoded as %d", n, n+1)
		}
	}
}

// Each tier value reads back from the text alone, whatever its place in
// its group of three and whatever the count (the last group padded).
func TestEncodedFloats_At(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 5, 512, 1000} {
		fs := make([]float64, n)
		for i := range fs {
			fs[i] = 1e6/float64(i+1) - 17.125
		}
		e := encodedFloats{text: []byte(encodeFloats(fs)), n: n}
		for i, want := range fs {
			if got := e.At(i); got != want {
				t.Fatalf("%d values: At(%d) = %v, want %v", n, i, got, want)
			}
		}
	}
	if got := (encodedFloats{text: []byte("!!!!"), n: 1}).At(0); !math.IsNaN(got) {
		t.Errorf("At on broken text = %v, want NaN", got)
	}
}
