package eval_test

import (
	"fmt"

	"github.com/realc-project/realc/runtime/eval"
)

// Parse a judge's output, turn its score-slot distribution into the RAIL
// expected score, and correlate predictions with the gold scores.
func Example() {
	p := eval.ParseScore("Feedback: clear and correct. So the overall score is 4")
	fmt.Println(p.Score, p.FormatOK, p.Offset)

	probs := []float64{0.05, 0.05, 0.1, 0.5, 0.2} // full-vocabulary softmax; 0.1 elsewhere
	fmt.Printf("E = %.2f, renormalized %.3f\n", eval.ExpectedScore(probs, eval.DefaultScoreValues, false), eval.ExpectedScore(probs, eval.DefaultScoreValues, true))

	m, _ := eval.Compute([]float64{3.1, 4.2, 1.5, 4.8}, []float64{3, 5, 1, 4.667})
	fmt.Printf("n %d, Pearson x100 %.1f, Spearman %.2f, Kendall %.2f\n", m.N, 100*m.Pearson, m.Spearman, m.Kendall)
	// Output:
	// 4 true 53
	// E = 3.45, renormalized 3.833
	// n 4, Pearson x100 97.0, Spearman 0.80, Kendall 0.67
}
