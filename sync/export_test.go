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

// BasisTierValues loads r's compute basis as an incremental run does and
// returns how many tier values it decoded into memory and how many the
// basis has.
func BasisTierValues(r *Runner) (decoded, kept int, ok bool) {
	b, ok := r.loadBasis()
	return len(b.Tiers.Values), b.TierValues, ok
}
