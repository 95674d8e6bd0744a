package sync

import (
	"github.com/clvsync/clvsync/clv"
)

// scaleKeys is what computeAll's second pass keeps of every customer to
// make the base's scales: the tier value, the buyers' RFM keys, and the CLV
// and relationship months the quadrant's medians are taken from.
type scaleKeys struct {
	tierVals []float64
	rfmKeys  []clv.RFMKey
	quadCLV  []float64
	quadMons []float64
}

// newScaleKeys sizes the keys once for n customers (grown by append, each
// would leave up to its own size of garbage behind: at 300k, pass 2 ended
// with 100 MB of heap in use for 50 MB of keys).
func newScaleKeys(dir string, n int) (*scaleKeys, error) {
	return &scaleKeys{
		tierVals: make([]float64, 0, n),
		rfmKeys:  make([]clv.RFMKey, 0, n),
		quadCLV:  make([]float64, 0, n),
		quadMons: make([]float64, 0, n),
	}, nil
}

// add keeps one customer's keys; rfm only when ok (a buyer).
func (k *scaleKeys) add(tier float64, rfm clv.RFMKey, ok bool, quadCLV, quadMonths float64) error {
	k.tierVals = append(k.tierVals, tier)
	if ok {
		k.rfmKeys = append(k.rfmKeys, rfm)
	}
	k.quadCLV, k.quadMons = append(k.quadCLV, quadCLV), append(k.quadMons, quadMonths)
	return nil
}

func (k *scaleKeys) close() { *k = scaleKeys{} }
