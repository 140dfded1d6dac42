// Package compiler turns a recipe (parsed by package dsl) into a checked,
// lowered and differentiated Program, and evaluates it with a float64
// reference evaluator, the oracle generated kernels are tested against.
//
// # API for emitters
//
//	prog, err := compiler.Compile("recipes/real.rl", src)   // err is a dsl.ErrorList: file:line:col, source line, caret
//	res, err := compiler.Eval(prog, batch, overrides)        // reference values and gradients
//
// A Program holds the recipe metadata (Name, File, Score tokens, Rollout and
// Optim settings, Hypers with defaults and positions) and one flat list of IR
// values, Program.Values, in topological order. Each Value has an Op from a
// small closed set (see Op), Args (earlier IDs), an Axis (scalar, group, seq,
// token), a Grad flag, the earliest Stage that needs it, a payload (Const,
// Name, Renorm) and the recipe position Pos, so that emitted code can carry
// "// recipes/x.rl:LINE" comments.
//
// The stages are roots into that list: Rewards (score stage), Filter (group
// axis, nonzero keeps the group), Advantages, and Loss (scalar). Surface
// functions are lowered to primitives: mean_g(x) = sum_g(x)/count_g,
// token_mean(x, m) = sum_s(sum_t(x*m)) / (sum_s(sum_t(m)) + 1e-8), and so on;
// Value.Label keeps the surface text. Emitters translate value by value.
//
// Loss and grad stages are defined on the sequences of kept groups only:
// OpSumS and OpCountS range over them, and dropped sequences get zero
// gradients. Advantages use the same kept set for their batch reductions.
//
// # Gradients
//
// Program.Grads lists, for every grad readout of the loss (the token leaves
// logp and entropy, the score-slot readouts expect, prob, logprob), the
// adjoint dLoss/dReadout as an IR value (StageGrad) over forward values. The
// chain from a readout to its row of logits is fixed; see ReadoutGrad. Use
// DLogits for the evaluator's full dlogits of one row, which is the formula a
// fused kernel implements.
//
// Program.TwoPass says whether some adjoint depends on a reduction of grad
// values (a batch statistic of the current forward): then a fused kernel needs
// a statistics pass before the gradient pass. `realc explain` prints it.
//
// # Passes
//
// Passes lists the compiler's passes in order; their order constraints are
// checked at start-up. CompileUpTo stops after a named pass (`realc dump --pass`).
package compiler
