package clv

import (
	"context"
	"errors"
	"testing"
	"time"
)

// slowParetoSet is a 5,000-customer set without churn, on which Pareto/NBD
// fitted for minutes (issue 16).
func slowParetoSet() []Summary {
	return simulate(3, 5000, BGNBD{R: 0.8, Alpha: 6, A: 0.02, B: 200}, GammaGamma{P: 6, Q: 4, Gamma: 15}, true)
}

func TestFitModelsContext_Canceled(t *testing.T) {
	ss := slowParetoSet()
	t.Run("already canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := FitModelsContext(ctx, ss, FitOptions{Model: ModelParetoNBD})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
	})
	for _, model := range []string{ModelParetoNBD, ModelBGNBD, ModelMBGCNBD} {
		t.Run("canceled during the fit: "+model, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			started := make(chan struct{})
			var stopped time.Time
			go func() {
				<-started
				time.Sleep(20 * time.Millisecond)
				stopped = time.Now()
				cancel()
			}()
			close(started)
			_, err := FitModelsContext(ctx, ss, FitOptions{Model: model})
			if err == nil {
				t.Skip("the fit finished before the cancellation")
			}
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			t.Logf("%s stopped %v after cancel: %v", model, time.Since(stopped), err)
		})
	}
}

// BenchmarkFitParetoNBD_NoChurn5k is the set on which Pareto/NBD fitted for
// more than 120 s before the likelihood integral switched away from the
// slowly converging series (issue 16; lifetimes: 1.4 s).
func BenchmarkFitParetoNBD_NoChurn5k(b *testing.B) {
	ss := slowParetoSet()
	b.ResetTimer()
	for range b.N {
		// Without churn β runs off to infinity: the fit ends with
		// ErrDegenerateFit ("no interior maximum"), which is the right answer.
		if _, _, err := FitParetoNBD(ss); err != nil && !errors.Is(err, ErrDegenerateFit) {
			b.Fatal(err)
		}
	}
}
