package clv

import (
	"bufio"
	"encoding/csv"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

var cdnowCalibrationEnd = time.Date(1997, 9, 30, 0, 0, 0, 0, time.UTC)

// loadCDNOWOrders reads testdata/CDNOW_sample.txt into orders per sample id.
func loadCDNOWOrders(tb testing.TB) (map[string][]Order, []string) {
	tb.Helper()
	f, err := os.Open("testdata/CDNOW_sample.txt")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	byID := map[string][]Order{}
	var ids []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) != 5 {
			continue
		}
		at, err := time.Parse("20060102", fs[2])
		if err != nil {
			tb.Fatal(err)
		}
		id := strings.TrimLeft(fs[1], "0")
		if _, ok := byID[id]; !ok {
			ids = append(ids, id)
		}
		byID[id] = append(byID[id], Order{At: at, Amount: decimal.RequireFromString(fs[4])})
	}
	return byID, ids
}

// loadCDNOWSummary reads the lifetimes summary with transactions.
func loadCDNOWSummary(tb testing.TB) ([]Summary, [][]string) {
	tb.Helper()
	f, err := os.Open("testdata/cdnow_customers_summary_with_transactions.csv")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		tb.Fatal(err)
	}
	recs = recs[1:]
	out := make([]Summary, len(recs))
	for i, r := range recs {
		v := make([]float64, 4)
		for j := range v {
			if v[j], err = strconv.ParseFloat(strings.TrimSpace(r[j+1]), 64); err != nil {
				tb.Fatal(err)
			}
		}
		out[i] = Summary{ID: r[0], X: v[0], Tx: v[1], T: v[2], MeanSpend: v[3]}
	}
	return out, recs
}

func TestSummarize_CDNOW(t *testing.T) {
	orders, _ := loadCDNOWOrders(t)
	_, recs := loadCDNOWSummary(t)
	if len(recs) != 2357 {
		t.Fatalf("summary rows = %d, want 2357", len(recs))
	}
	bad := 0
	for _, r := range recs {
		s, ok := Summarize(r[0], orders[r[0]], cdnowCalibrationEnd, Week)
		if !ok {
			t.Fatalf("customer %s: no orders", r[0])
		}
		// The file rounds half away from zero on the exact decimal value
		// (22.345 -> 22.35), which %.2f on the binary float does not.
		r2 := func(v float64) string { return decimal.NewFromFloat(v).StringFixed(2) }
		got := []string{s.ID, strconv.Itoa(int(s.X)), r2(s.Tx), r2(s.T), r2(s.MeanSpend)}
		for j := range got {
			if got[j] != strings.TrimSpace(r[j]) {
				bad++
				if bad < 10 {
					t.Errorf("customer %s: got %v, want %v", r[0], got, r)
				}
				break
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d customers differ", bad)
	}
}

func TestSummarize_Cases(t *testing.T) {
	day := func(s string) time.Time { tm, _ := time.Parse(time.RFC3339, s); return tm }
	dec := decimal.RequireFromString
	asOf := day("2024-01-31T12:00:00Z")
	tests := []struct {
		name   string
		orders []Order
		want   Summary
		ok     bool
	}{
		{"no orders", nil, Summary{ID: "c"}, false},
		{"only after asOf", []Order{{At: day("2024-02-01T00:00:00Z"), Amount: dec("5")}}, Summary{ID: "c"}, false},
		{"single", []Order{{At: day("2024-01-01T10:00:00Z"), Amount: dec("5")}}, Summary{ID: "c", T: 30}, true},
		{"same day is one occasion", []Order{
			{At: day("2024-01-01T10:00:00Z"), Amount: dec("5")},
			{At: day("2024-01-11T23:00:00Z"), Amount: dec("10")},
			{At: day("2024-01-11T01:00:00Z"), Amount: dec("2.5")},
			{At: day("2024-01-31T23:59:00Z"), Amount: dec("7.5")}, // on the asOf day: included
			{At: day("2024-02-02T00:00:00Z"), Amount: dec("100")},
		}, Summary{ID: "c", X: 2, Tx: 30, T: 30, MeanSpend: 10, LogITT: math.Log(10) + math.Log(20)}, true},
		{"timezone is UTC day", []Order{
			{At: day("2024-01-01T23:30:00-02:00"), Amount: dec("1")}, // 2024-01-02 UTC
			{At: day("2024-01-03T00:00:00Z"), Amount: dec("3")},
		}, Summary{ID: "c", X: 1, Tx: 1, T: 29, MeanSpend: 3}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Summarize("c", tt.orders, asOf, Day)
			if ok != tt.ok || got != tt.want {
				t.Errorf("got %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestSplitHoldout_CDNOW(t *testing.T) {
	orders, ids := loadCDNOWOrders(t)
	holdoutEnd := time.Date(1998, 6, 30, 0, 0, 0, 0, time.UTC)
	var purchases float64
	n := 0
	for _, id := range ids {
		s, h, ok := SplitHoldout(id, orders[id], cdnowCalibrationEnd, holdoutEnd, Week)
		if !ok {
			t.Fatalf("customer %s not in calibration", id)
		}
		if s2, _ := Summarize(id, orders[id], cdnowCalibrationEnd, Week); s2 != s {
			t.Fatalf("customer %s: split summary %+v != %+v", id, s, s2)
		}
		purchases += h.Purchases
		n++
	}
	if n != 2357 {
		t.Errorf("customers = %d", n)
	}
	if purchases <= 0 {
		t.Errorf("no holdout purchases")
	}
	if got := UnitsBetween(cdnowCalibrationEnd, holdoutEnd, Week); got != 273.0/7 {
		t.Errorf("holdout length = %v weeks, want 39", got)
	}
}
