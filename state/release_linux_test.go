package state

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

func TestStatmField(t *testing.T) {
	line := []byte("1024 300 120 40 0 500 0\n")
	for i, want := range []int64{1024, 300, 120, 40, 0, 500, 0} {
		if got, ok := statmField(line, i); !ok || got != want {
			t.Errorf("field %d = %d, %v; want %d", i, got, ok, want)
		}
	}
	for _, bad := range []string{"", "12", "1 x 3\n", "1 2\n"} {
		if n, ok := statmField([]byte(bad), 2); ok {
			t.Errorf("statmField(%q, 2) = %d, ok; want not ok", bad, n)
		}
	}
}

func TestFileResident_MatchesStatm(t *testing.T) {
	raw, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		t.Skip("no /proc/self/statm:", err)
	}
	pages, err := strconv.ParseInt(strings.Fields(string(raw))[2], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	// Twice: the kept descriptor reads the current figure each time.
	for range 2 {
		n, ok := fileResident()
		if !ok {
			t.Fatal("fileResident not ok")
		}
		// The resident figure moves a little between the two reads.
		if want := pages * int64(os.Getpagesize()); n < want/2 || n > want*2 {
			t.Errorf("fileResident = %d, statm says %d", n, want)
		}
	}
}
