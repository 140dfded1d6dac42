package compiler

import "github.com/realc-project/realc/runtime/fused/batch"

// The eval-loss batch format lives in runtime/fused/batch, which generated
// trainers read without linking the compiler; these names keep the
// compiler's API (Eval takes a *Batch).
type (
	// Batch is the input of the reference evaluator: see batch.Batch.
	Batch = batch.Batch
	// Group is one prompt's responses.
	Group = batch.Group
	// Seq is one response.
	Seq = batch.Seq
)

// ParseBatch reads the eval-loss JSON (batch.Parse).
func ParseBatch(data []byte) (*Batch, error) { return batch.Parse(data) }

// SeqPath is the JSON path of sequence j of group g, for messages.
func SeqPath(g, j int) string { return batch.SeqPath(g, j) }
