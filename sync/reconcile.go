package sync

import (
	"context"
	"fmt"

	"github.com/shopspring/decimal"

	"github.com/clvsync/clvsync/state"
	"github.com/clvsync/clvsync/sync/config"
)

// reconcileBatch is how many contacts one batch read returns (HubSpot's
// limit for batch reads).
const reconcileBatch = 100

// reconcile reads the outputs back from HubSpot for every contact clvsync
// wrote to and returns those whose values differ from what was written: a
// value edited or cleared by hand, a portal restored from a backup or
// reset. The write-back sends everything to them again. Full resyncs do
// this, and `run --reconcile` on demand; it costs one batch read per 100
// contacts written to.
func (r *Runner) reconcile(ctx context.Context, leftOut map[config.OutputKey]bool, rep *Summary) (map[string]bool, error) {
	var defs []config.OutputDef
	var props []string
	for _, def := range config.OutputDefs() {
		if p := r.Config.Property(def.Key); p != "" && !companionOutputs[def.Key] && !leftOut[def.Key] {
			defs = append(defs, def)
			props = append(props, p)
		}
	}
	repair := map[string]bool{}
	if len(defs) == 0 {
		return repair, nil
	}
	var chunk []state.Written
	check := func() error {
		if len(chunk) == 0 {
			return nil
		}
		ids := make([]string, len(chunk))
		for i, w := range chunk {
			ids[i] = w.ContactID
		}
		objs, err := r.objects().BatchRead(ctx, ids, props)
		if err != nil {
			return fmt.Errorf("read back the values written to %d %s: %w", len(ids), r.unitOf().plural, err)
		}
		byID := make(map[string]map[string]string, len(objs))
		for _, o := range objs {
			byID[o.ID] = o.Properties
		}
		for _, w := range chunk {
			have, ok := byID[w.ContactID]
			if !ok {
				continue // deleted or merged: the pull and the write-back deal with it
			}
			for _, def := range defs {
				if !sameValue(def.Kind, w.Values[string(def.Key)], have[r.Config.Property(def.Key)]) {
					repair[w.ContactID] = true
					break
				}
			}
		}
		chunk = chunk[:0]
		r.progress("reconcile", len(repair), 0)
		return nil
	}
	err := r.Store.ForEachWritten(func(w state.Written) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk = append(chunk, w)
		if len(chunk) == reconcileBatch {
			return check()
		}
		return nil
	})
	if err == nil {
		err = check()
	}
	rep.Repaired = len(repair)
	if len(repair) > 0 {
		r.Logger.Info("values in HubSpot differ from what clvsync wrote; rewriting them", r.unitOf().plural, len(repair))
	}
	return repair, err
}

// sameValue compares a value clvsync wrote with the one HubSpot returns:
// numbers by value ("12" and "12.00"), dates by day.
func sameValue(kind config.OutputKind, wrote, have string) bool {
	if wrote == have {
		return true
	}
	switch {
	case kind.Numeric():
		a, errA := decimal.NewFromString(wrote)
		b, errB := decimal.NewFromString(have)
		return errA == nil && errB == nil && a.Equal(b)
	case kind == config.KindDate:
		return len(wrote) >= 10 && len(have) >= 10 && wrote[:10] == have[:10]
	}
	return false
}
