package sync

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/clvsync/clvsync/state"
	"github.com/clvsync/clvsync/sync/config"
)

// passStore serves n customers, each with one won deal, to computeAll's
// passes; the methods they do not use are left to the nil Store (a call
// panics).
type passStore struct {
	Store
	n int
}

func (s passStore) ForEachCustomer(fn func(c state.Contact, deals []state.Deal) error) error {
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range s.n {
		id := fmt.Sprintf("%07d", i)
		d := state.Deal{ID: "d" + id, HomeAmount: decimal.NewNullDecimal(decimal.NewFromInt(int64(100 + i%50))), CloseDate: at.AddDate(0, 0, i%300),
			Won: true, ContactIDs: []string{id}}
		if err := fn(state.Contact{ID: id, CreatedAt: at}, []state.Deal{d}); err != nil {
			return err
		}
	}
	return nil
}

func (s passStore) CustomerCount() (int, error) { return s.n, nil }
func (s passStore) TrimMapped() error           { return nil }

// A refit's first pass sizes the buyers' summaries once, for the base it
// counts: grown by append, they were held twice while each growth copied
// them (at 300k contacts the pass ended with 35 MB of heap for 14 MB of
// summaries). Whether progress is reported or not.
func TestFirstPass_SizesTheSummariesOnce(t *testing.T) {
	for _, progress := range []bool{false, true} {
		const n = 20_000
		r := &Runner{Config: config.DefaultConfig(), Store: passStore{n: n}}
		if progress {
			r.Progress = func(string, int, int) {}
		}
		env, err := r.computeEnv()
		if err != nil {
			t.Fatal(err)
		}
		env.asOf = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
		pop, err := r.firstPass(r.newPasses(context.Background(), NewDealRules(r.Config, map[string]bool{}), env), true)
		if err != nil {
			t.Fatal(err)
		}
		if len(pop.summaries) != n || cap(pop.summaries) != n {
			t.Errorf("progress %v: %d summaries in a slice of %d, want %d in %d", progress, len(pop.summaries), cap(pop.summaries), n, n)
		}
	}
}
