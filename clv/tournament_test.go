package clv

import (
	"context"
	"testing"
	"time"
)

// TestTournament_CDNOW: 39-week calibration (1997-01-01..1997-09-30),
// 39-week holdout (to 1998-06-30), in weeks.
func TestTournament_CDNOW(t *testing.T) {
	if testing.Short() {
		t.Skip("fits Pareto/NBD")
	}
	byID, _ := loadCDNOWOrders(t)
	holdoutEnd := time.Date(1998, 6, 30, 0, 0, 0, 0, time.UTC)
	cal, hold := SplitLog(byID, cdnowCalibrationEnd, holdoutEnd, Week)
	if len(cal) != 2357 {
		t.Fatalf("%d calibration customers, want 2357", len(cal))
	}
	length := UnitsBetween(cdnowCalibrationEnd, holdoutEnd, Week)
	sc, err := Tournament(context.Background(), cal, hold, length, TournamentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Scores) != len(TournamentModels) || sc.Winner == "" {
		t.Fatalf("scorecard %+v", sc)
	}
	for _, m := range sc.Scores {
		if m.Err != nil {
			t.Errorf("%s: %v", m.Model, m.Err)
			continue
		}
		if !(m.MAE > 0.3 && m.MAE < 1.5) || len(m.Buckets) != MaxBucket+1 {
			t.Errorf("%s: MAE %v, %d buckets", m.Model, m.MAE, len(m.Buckets))
		}
		t.Logf("%-10s LL %.2f  MAE %.4f  bias %+.2f%%  calibration error %.4f", m.Model, m.LogLik, m.MAE, m.BiasPct, m.CalibrationError)
	}
	bg, _ := sc.Score(ModelBGNBD)
	checkSig(t, "BG/NBD r on the calibration split", bg.Params["r"], cdnowBG.R, 4)
	t.Logf("winner %s (holdout %.2f weeks, %v actual purchases)", sc.Winner, sc.HoldoutLength, sc.ActualPurchases)
}

func TestTournament_errors(t *testing.T) {
	if _, err := Tournament(context.Background(), []Summary{{}}, nil, 1, TournamentOptions{}); err == nil {
		t.Error("misaligned holdout: want an error")
	}
	ss := []Summary{{ID: "a", T: 3}}
	sc, err := Tournament(context.Background(), ss, []Holdout{{}}, 1, TournamentOptions{})
	if err == nil || sc.Winner != "" || len(sc.Scores) != len(TournamentModels) || sc.Scores[0].Err == nil {
		t.Errorf("too little data: err %v, scorecard %+v", err, sc)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Tournament(ctx, slowParetoSet(), make([]Holdout, 5000), 10, TournamentOptions{}); err == nil {
		t.Error("canceled: want an error")
	}
}
