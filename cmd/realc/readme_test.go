package main

import (
	"os"
	"strings"
	"testing"
)

// The README shows recipes/real.rl whole; this keeps the two from drifting.
func TestReadmeShowsRealRecipe(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	recipe, err := os.ReadFile("../../recipes/real.rl")
	if err != nil {
		t.Fatal(err)
	}
	block := "```\n" + strings.TrimRight(string(recipe), "\n") + "\n```"
	if !strings.Contains(string(readme), block) {
		t.Fatal("README.md no longer shows recipes/real.rl verbatim: paste the recipe into its \"A recipe, whole\" section")
	}
}
