package eval

import (
	"fmt"
	"math"
)

// DefaultScoreValues are the values of the score tokens "1".."5".
var DefaultScoreValues = []float64{1, 2, 3, 4, 5}

// ExpectedScore is RAIL's predictor sum_k v_k * p_k over the score tokens,
// where p_k are full-vocabulary softmax probabilities at the score slot. By
// default the probabilities are used as they are (REAL, TRACT: mass on other
// tokens pulls E towards 0); with renorm they are divided by their sum first.
// NaN when the lengths differ or (with renorm) the mass is zero.
func ExpectedScore(probs, values []float64, renorm bool) float64 {
	if len(probs) != len(values) || len(probs) == 0 {
		return math.NaN()
	}
	e, z := 0.0, 0.0
	for k, p := range probs {
		e += values[k] * p
		z += p
	}
	if renorm {
		if z <= 0 {
			return math.NaN()
		}
		e /= z
	}
	return e
}

// ScoreProbs returns the full-vocabulary softmax probabilities of the
// tokens ids given the logits of one position (max-subtracted for stability,
// summed in float64). An id outside the vocabulary is an error.
func ScoreProbs(logits []float32, ids []int) ([]float64, error) {
	if len(logits) == 0 {
		return nil, fmt.Errorf("empty logits")
	}
	mx := float64(logits[0])
	for _, z := range logits {
		mx = math.Max(mx, float64(z))
	}
	s := 0.0
	for _, z := range logits {
		s += math.Exp(float64(z) - mx)
	}
	out := make([]float64, len(ids))
	for k, id := range ids {
		if id < 0 || id >= len(logits) {
			return nil, fmt.Errorf("score token id %d is outside the vocabulary (size %d)", id, len(logits))
		}
		out[k] = math.Exp(float64(logits[id])-mx) / s
	}
	return out, nil
}
