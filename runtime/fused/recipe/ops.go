package recipe

// B2F is 1 for true and 0 for false: comparisons in recipes are numbers.
func B2F(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Where is a if c is nonzero, else b (both are already evaluated, as in the
// reference evaluator).
func Where(c, a, b float64) float64 {
	if c != 0 {
		return a
	}
	return b
}
