// Package compiler turns a recipe (parsed by package dsl) into a checked,
// lowered and differentiated Program, and evaluates it with a float64
// reference evaluator, the oracle generated kernels are tested against.
//
// # API for emitters
//
//	prog, err := compiler.Compile("recipes/real.rl", src) // err: dsl.ErrorList (file:line:col, line, caret; all errors)
//	batch, err := compiler.ParseBatch(jsonBytes)          // the eval-loss JSON; errors name the JSON path
//	res, err := compiler.Eval(prog, batch, overrides)     // rewards, advantages, kept, loss, dlogits, every value
//
// A Program holds the recipe metadata (Name, File, Score tokens, Rollout and
// Optim settings, Hypers with defaults and positions) and one flat list of IR
// values, Program.Values, in topological order. Each Value has an Op from a
// small closed set (see Op for arity and payload), Args (earlier IDs), an Axis
// (scalar, group, seq, token), a Grad flag, the earliest Stage that needs it,
// a payload (Const, Name, Renorm) and the recipe position Pos, so that emitted
// code can carry "// recipes/x.rl:LINE" comments. Element-wise ops broadcast
// their arguments outward to the value's axis.
//
// The stages are roots into that list: Rewards (score stage), Filter (group
// axis, nonzero keeps the group; NoID keeps all), Advantages, Loss (scalar),
// and Grads. A root may have a smaller axis than its stage's (a reward that is
// the group's y): broadcast it. Surface functions are lowered to primitives,
// Value.Label keeps the surface text:
//
//	sum_t(x, m)       = sum_t(x*m)                       m defaults to the leaf all
//	mean_t(x, m)      = sum_t(x*m) / max(sum_t(m), 1)
//	mean_g(x)         = sum_g(x) / count_g
//	std_g(x, pop)     = sqrt(sum_g((x - mean_g(x))^2) / count_g)
//	std_g(x, unbiased)= sqrt(sum_g((x - mean_g(x))^2) / max(count_g - 1, 1))
//	loo(x)            = where(count_g > 1, x - (sum_g(x) - x) / max(count_g - 1, 1), 0)
//	token_mean(x, m)  = sum_s(sum_t(x*m)) / (sum_s(sum_t(m)) + 1e-8)     (verl token-mean)
//	token_sum(x, m)   = sum_s(sum_t(x*m))
//	seq_mean_token_sum(x, m)      = sum_s(sum_t(x*m)) / count_s
//	seq_mean_token_mean(x, m)     = sum_s(sum_t(x*m) / max(sum_t(m), 1)) / count_s
//	seq_mean_token_sum_norm(x, m) = sum_s(sum_t(x*m)) / max_response   (rollout max_response)
//	mean(x)           = sum_s(x) / count_s
//
// Semantics of the batch: OpSumT sums over every token of the sequence (masks
// enter as factors), OpSumG over the sequences of the group, OpSumS and
// OpCountS over the sequences of KEPT groups. Rewards and the filter cannot use
// sum_s/count_s (the checker refuses), so evaluate score and filter values
// first, then decide kept, then the rest. Loss and grad values are meaningful
// on kept sequences only; dropped sequences get zero gradients.
//
// # Gradients
//
// Program.Grads lists, for every grad readout of the loss (the token leaves
// logp and entropy, the score-slot readouts expect, prob, logprob), the
// adjoint dLoss/dReadout as an IR value (StageGrad, or a constant) computed
// from forward values; its axis is at most the readout's (broadcast it). The
// chain from a readout to its row of logits is fixed; see ReadoutGrad for the
// rules. Result.GradLogits and Result.GradScoreLogits are the evaluator's full
// dlogits (the sum over readouts of adjoint times rule), the numbers a fused
// kernel must reproduce. min/max split the gradient on ties and clip passes it
// on lo <= x <= hi, as torch does; abs has derivative 0 at 0.
//
// The schedule pass plans the kernels (Program.Schedule, schedule.go): the
// phases the engine runs (score, adv, rest, token) and their steps (a loop
// per run of element-wise values of one axis, a reduction per reduction),
// the values the per-row token adjoint evaluates, the value slots (offsets
// in the vals buffer), the CUDA kernels' argument list, and whether one pass
// over the rows gives the gradients. Two passes are needed when a token
// adjoint reads a batch reduction of logp or entropy, when the score or
// filter stage reads them, or when a score-slot adjoint does (Schedule.
// Reasons; Program.TwoPass and TwoPassWhy repeat the verdict). The emitters
// of package codegen render the schedule; `realc explain` summarizes it and
// `realc dump --pass schedule` prints it whole.
//
// The score stage reads the policy in a no-grad forward (REAL's stage 1), so
// its readouts carry no grad and are distinct values from the loss stage's
// readouts of the same name: in training they come from different forwards.
//
// # Passes
//
// Passes lists the compiler's passes in order (check, fold, cse, dce,
// autodiff, simplify, schedule); their order constraints are checked at
// start-up.
// CompileUpTo stops after a named pass; Dump prints the IR (`realc dump
// --pass NAME`); Explain prints the stages, the derivative and the plan.
//
// # The op table
//
// Every IR op is declared once, in ops.go: Op.Info returns its OpInfo (arity
// and payload, class, grad flow, value on numbers, identities, derivative,
// explain form, Go and C expressions). Adding a builtin element-wise op,
// e.g. tanh, touches:
//
//  1. ir.go: the Op constant, before numOps.
//  2. ops.go: its OpInfo entry. Func, Usage and FuncDoc make it a function of
//     the language (the checker's function table reads them); Eval is its
//     value (constant folding and the evaluator); Deriv its derivative
//     (autodiff fails on an op without one); Math how explain prints it; Go
//     and C its expressions in generated kernels ($0, $1 ... the arguments).
//  3. Tests: TestOpTable checks the entry is complete; add a row to
//     TestOpEval, and use the op in testdata/ops.rl so that TestGradientsAllOps
//     checks its derivative against finite differences.
//
// A Go or C form that needs a helper of its own adds it to runtime/fused/recipe
// (as recipe.Where) or to codegen/device/realc.cuh (as realc_min).
//
// # Helpers
//
// ApplyOp evaluates one element-wise op exactly as the evaluator does.
// EvalWith(..., Options{Stage1: r}) reuses the score, filter and advantage
// values of an earlier Result (a trainer's epochs; finite-difference tests).
// Batch.MarshalJSON writes the eval-loss format.
package compiler
