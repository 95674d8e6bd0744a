package sync

import (
	"math/rand/v2"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/clvsync/clvsync/clv"
	"github.com/clvsync/clvsync/sync/config"
)

// randomKeys is n customers' scale keys with ties (few distinct order
// counts, repeated values), a fifth of them without orders.
func randomKeys(rng *rand.Rand, n int) (tiers []float64, rfm []clv.RFMKey, buyer []bool, quadCLV, quadMons []float64) {
	asOf := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for range n {
		orders := rng.IntN(6)
		v := float64(rng.IntN(400)) * 2.5
		k, ok := clv.RFMKeyOf(clv.RFMInput{Orders: orders, Last: asOf.AddDate(0, 0, -rng.IntN(700)), Revenue: decimal.NewFromFloat(v)}, clv.DefaultRFMConfig())
		tiers, rfm, buyer = append(tiers, v), append(rfm, k), append(buyer, ok)
		quadCLV, quadMons = append(quadCLV, v), append(quadMons, float64(rng.IntN(40)))
	}
	return
}

func addKeys(t testing.TB, k *scaleKeys, tiers []float64, rfm []clv.RFMKey, buyer []bool, quadCLV, quadMons []float64) {
	for i := range tiers {
		if err := k.add(tiers[i], rfm[i], buyer[i], quadCLV[i], quadMons[i]); err != nil {
			t.Fatal(err)
		}
	}
}

// The scales made from the kept keys are those the clv package makes from
// the same keys in memory.
func TestScaleKeys_MakeTheScales(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial, n := range []int{0, 1, 2, 7, 100, 5000} {
		tiers, rfm, buyer, quadCLV, quadMons := randomKeys(rng, n)
		k, err := newScaleKeys(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		addKeys(t, k, tiers, rfm, buyer, quadCLV, quadMons)
		clvs := make([]decimal.Decimal, n)
		for i, v := range quadCLV {
			clvs[i] = decimal.NewFromFloat(v)
		}
		r := &Runner{Config: config.DefaultConfig()}
		got, err := r.scalesOf(k, func(fn func(decimal.Decimal) error) error {
			for _, d := range clvs {
				if err := fn(d); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		k.close()
		var buyers []clv.RFMKey
		for i, ok := range buyer {
			if ok {
				buyers = append(buyers, rfm[i])
			}
		}
		qcfg, _ := r.Config.CLVQuadrant()
		wantCLV, wantMons := clv.QuadrantThresholds(clvs, append([]float64(nil), quadMons...), qcfg)
		want := scales{tiers: clv.NewTierScaleOf(tiers), rfm: clv.NewRFMScaleOf(buyers), quadCLV: wantCLV, quadMonths: wantMons}
		if len(got.tiers.Values) != len(want.tiers.Values) || got.rfm != want.rfm || !got.quadCLV.Equal(want.quadCLV) || got.quadMonths != want.quadMonths {
			t.Fatalf("trial %d (%d customers): got %+v, want %+v", trial, n, got, want)
		}
		for i := range want.tiers.Values {
			if got.tiers.Values[i] != want.tiers.Values[i] {
				t.Fatalf("trial %d: tier value %d is %v, want %v", trial, i, got.tiers.Values[i], want.tiers.Values[i])
			}
		}
	}
}

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// The keys of a large base are kept on disk, beside the state file, not
// in memory: 200k customers' keys hold under 2 bytes a customer of heap
// (they held 48), and the file is gone once they are closed.
func TestScaleKeys_KeptOnDisk(t *testing.T) {
	const n = 200_000
	tiers, rfm, buyer, quadCLV, quadMons := randomKeys(rand.New(rand.NewPCG(5, 6)), n)
	dir := t.TempDir()
	before := heapInUse()
	k, err := newScaleKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	addKeys(t, k, tiers, rfm, buyer, quadCLV, quadMons)
	held := int64(heapInUse()) - int64(before)
	runtime.KeepAlive(k)
	runtime.KeepAlive(tiers) // measured before, alive after
	runtime.KeepAlive(rfm)
	runtime.KeepAlive(buyer)
	runtime.KeepAlive(quadCLV)
	runtime.KeepAlive(quadMons)
	if held > 2*n {
		t.Errorf("%d customers' keys hold %d bytes of heap (%.1f a customer), want under 2 a customer", n, held, float64(held)/n)
	}
	k.close()
	if files, _ := os.ReadDir(dir); len(files) != 0 {
		t.Errorf("left %d files behind in the state file's directory", len(files))
	}
}

// Making the scales of a large base allocates 16 bytes a customer: the
// tier values the scale keeps, and one column of keys at a time to sort.
// (The quadrant's CLV threshold is set: the exact median's reading of every
// CLV again is garbage of its own, TestExactMedian's.)
func TestScaleKeys_ScalesAllocateTwoColumns(t *testing.T) {
	const n = 200_000
	tiers, rfm, buyer, quadCLV, quadMons := randomKeys(rand.New(rand.NewPCG(7, 8)), n)
	k, err := newScaleKeys(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer k.close()
	addKeys(t, k, tiers, rfm, buyer, quadCLV, quadMons)
	r := &Runner{Config: config.DefaultConfig()}
	r.Config.Segments.Quadrant.CLVThreshold = "500"
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.TotalAlloc
	sc, err := r.scalesOf(k, nil)
	runtime.ReadMemStats(&ms)
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.tiers.Values) != n || !sc.rfm.R.Has[4] || sc.quadMonths == 0 {
		t.Fatalf("scales %d tier values, RFM %+v, months %v", len(sc.tiers.Values), sc.rfm, sc.quadMonths)
	}
	if got := ms.TotalAlloc - before; got > 17*n {
		t.Errorf("making the scales of %d customers allocated %d bytes (%.1f a customer), want at most 17 a customer", n, got, float64(got)/n)
	}
}
