package sync

import (
	"os"
	"reflect"
	"testing"

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
		{id: 1, pred: clv.Prediction{ExpectedPurchases: 1.5, PAlive: 0.25, ExpectedSpend: 80.125, CLV: 120.0625}, band: band{lo: 1, hi: 2, variance: 3, psd: 4}},
		{id: 2, pred: clv.Prediction{CLV: 7, Flags: clv.Flags{{Kind: clv.FlagNotConverged, Reason: "series stopped"}, {Kind: "x", Reason: ""}}}},
		{id: 3},
	}
	for _, k := range want {
		if err := s.write(k); err != nil {
			t.Fatal(err)
		}
	}
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
	if !reflect.DeepEqual(got, want) || s.n != len(want) {
		t.Errorf("read back %+v (%d written), want %+v", got, s.n, want)
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
