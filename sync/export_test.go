package sync

// SetChangedChunk makes computeChanged store n customers a part until the
// test ends.
func SetChangedChunk(t interface{ Cleanup(func()) }, n int) {
	old := changedChunk
	changedChunk = n
	t.Cleanup(func() { changedChunk = old })
}
