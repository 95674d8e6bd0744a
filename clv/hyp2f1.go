package clv

import "math"

// maxSeriesTerms bounds every hypergeometric series. For 0 <= z <= 0.9999
// the terms have shrunk far below double precision well before this.
const maxSeriesTerms = 200000

// hyp2f1 evaluates the Gauss hypergeometric series 2F1(a, b; c; z) for
// 0 <= z < 1 by direct summation. The second result is false when c is a
// non-positive integer, z is out of range or the series did not converge.
// Callers only use it where the parameters keep the series well conditioned
// (c = a + 1 and small z in the Pareto/NBD likelihood).
func hyp2f1(a, b, c, z float64) (float64, bool) {
	if z < 0 || z >= 1 || isNonPositiveInt(c) {
		return 0, false
	}
	if z == 0 {
		return 1, true
	}
	sum, term := 1.0, 1.0
	for k := 0.0; k < maxSeriesTerms; k++ {
		term *= (a + k) * (b + k) / ((c + k) * (k + 1)) * z
		sum += term
		if math.Abs(term) <= 1e-17*math.Abs(sum) {
			return sum, !math.IsNaN(sum) && !math.IsInf(sum, 0)
		}
	}
	return sum, false
}

func isNonPositiveInt(c float64) bool {
	return c <= 0 && c == math.Floor(c)
}

// bgBracket returns the x-dependent factor of the BG/NBD-family conditional
// expectation,
//
//	C/(a-1) · [1 − u^(a−1) · 2F1(A, a−1; C; z)],   z = 1 − u,
//
// where u = (α+T)/(α+T+t) and L = ln u. This is the Euler-transformed form of
// section 1 of the model notes. It is evaluated as
//
//	C·(−expm1(εL)/ε) − u^ε · Σ_{k≥1} (A)_k (1+ε)_{k−1} / ((C+1)_{k−1} k!) z^k,
//
// with ε = a − 1, which divides out both the removable singularity at a = 1
// and the factor C exactly. It therefore stays finite for a → 1 and for
// C = a+b+x−1 ≤ 0 (x = 0 with a+b ≤ 1), where the raw formula returns NaN.
// C+k > 0 for every k ≥ 1 because C > −1.
func bgBracket(A, eps, C, L float64) float64 {
	v, _ := bgBracketOK(A, eps, C, L)
	return v
}

// bgBracketOK is bgBracket that also reports whether the series converged
// within maxSeriesTerms terms (it converges slowly as z -> 1, that is for a
// horizon t much longer than α+T); when it did not, the value is the
// partial sum.
func bgBracketOK(A, eps, C, L float64) (float64, bool) {
	z := -math.Expm1(L) // 1 − u, exact for u near 1
	var head float64
	if eps == 0 {
		head = -L
	} else {
		head = -math.Expm1(eps*L) / eps
	}
	// Series S' = Σ_{k≥1} t_k with t_1 = A·z and
	// t_{k+1} = t_k · (A+k)(ε+k) / ((C+k)(k+1)) · z.
	sum, ok := 0.0, true
	if z > 0 {
		term := A * z
		sum = term
		ok = false
		for k := 1.0; k < maxSeriesTerms; k++ {
			term *= (A + k) * (eps + k) / ((C + k) * (k + 1)) * z
			sum += term
			if math.Abs(term) <= 1e-17*math.Abs(sum) || term == 0 {
				ok = true
				break
			}
		}
	}
	v := C*head - math.Exp(eps*L)*sum
	return v, ok && isFinite(v)
}
