// Package gputest holds checks of runtime/cuda/gpu that need the compiler's
// reference evaluator (a generated recipe's loss on the GPU, materialized and
// fused, against compiler.Eval and against each other). Only tests import it
// (the emulated-driver tests and the on-device check), so trainers that link
// runtime/cuda/gpu do not link the compiler. Behind the cuda tag.
package gputest
