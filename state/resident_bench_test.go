package state

import "testing"

// BenchmarkFileResident is the cost of one check of the mapped pages
// (trimMapped reads it every trimEvery records).
func BenchmarkFileResident(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := fileResident(); !ok {
			b.Skip("no resident figure here")
		}
	}
}
