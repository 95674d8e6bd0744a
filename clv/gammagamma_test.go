package clv

import (
	"errors"
	"math"
	"testing"
)

var cdnowGG = GammaGamma{P: 6.248802, Q: 3.744588, Gamma: 15.447748}

func TestFitGammaGamma_CDNOW(t *testing.T) {
	_, ss := cdnowSummaryByID(t)
	g, ll, err := FitGammaGamma(ss)
	if err != nil {
		t.Fatal(err)
	}
	checkSig(t, "p", g.P, cdnowGG.P, 4)
	checkSig(t, "q", g.Q, cdnowGG.Q, 4)
	checkSig(t, "gamma", g.Gamma, cdnowGG.Gamma, 4)
	checkSig(t, "published p", g.P, 6.25, 3)
	checkSig(t, "published q", g.Q, 3.74, 3)
	checkSig(t, "published gamma", g.Gamma, 15.44, 3)
	checkSig(t, "LL", ll, -4055.9232, 7)
	// Density of the total is lower by Σ ln x (section 4).
	sumLnX := 0.0
	for _, s := range ss {
		if s.X > 0 {
			sumLnX += math.Log(s.X)
		}
	}
	checkSig(t, "LL of total", ll-sumLnX, -4659.30, 6)
}

func TestGammaGamma_ConditionalExpectedSpend(t *testing.T) {
	byID, _ := cdnowSummaryByID(t)
	for _, tt := range []struct {
		id   string
		want float64
		sig  int
	}{
		{"1", 24.6586, 6}, {"2", 18.91, 4}, {"3", 35.1710, 6}, {"6", 71.4629, 6}, {"1901", 294.212, 6},
	} {
		checkSig(t, "E[M] "+tt.id, cdnowGG.ConditionalExpectedSpend(byID[tt.id]), tt.want, tt.sig)
	}
	if got := cdnowGG.PopulationMean(); !relClose(got, 35.2, 3) {
		t.Errorf("population mean %v", got)
	}
}

func TestFitGammaGamma_Degenerate(t *testing.T) {
	tests := []struct {
		name string
		ss   []Summary
	}{
		{"no repeat buyers", []Summary{{T: 3}, {T: 4}}},
		{"one buyer", []Summary{{X: 1, Tx: 1, T: 2, MeanSpend: 10}}},
		// Identical spends: the heterogeneity runs off to a boundary.
		{"no spread", []Summary{{X: 1, Tx: 1, T: 2, MeanSpend: 10}, {X: 2, Tx: 1, T: 2, MeanSpend: 10}, {X: 3, Tx: 1, T: 2, MeanSpend: 10}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := FitGammaGamma(tt.ss)
			if !errors.Is(err, ErrInsufficientData) && !errors.Is(err, ErrDegenerateFit) {
				t.Errorf("err = %v", err)
			}
		})
	}
}
