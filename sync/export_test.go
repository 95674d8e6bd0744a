package sync

// SetChangedChunk makes computeChanged store n customers a part until the
// test ends.
func SetChangedChunk(t interface{ Cleanup(func()) }, n int) {
	old := changedChunk
	changedChunk = n
	t.Cleanup(func() { changedChunk = old })
}

// SetTournamentSample makes the model tournament score about n customers
// until the test ends.
func SetTournamentSample(t interface{ Cleanup(func()) }, n int) {
	old := tournamentSample
	tournamentSample = n
	t.Cleanup(func() { tournamentSample = old })
}
