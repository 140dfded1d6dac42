// Package model is realc's CPU transformer: Qwen3 and Llama/Mistral
// decoder-only models in float32, with a batched forward over padded
// sequences, a full backward for every parameter, a KV cache for generation,
// and readers and writers for Hugging Face folders and llama2.c checkpoints.
// Every matrix product goes through runtime/blas.Sgemm.
//
// Loading: Load(path) takes a Hugging Face folder (config.json plus
// model.safetensors or shards with model.safetensors.index.json; bf16, f16 or
// f32) or a llama2.c .bin file. SaveHF writes a folder back with the Hugging
// Face tensor names. NewTinyQwen3 builds the project's small random Qwen3
// from a seed (`realc tiny-model DIR` writes it).
//
// Training: Forward(batch) returns a Pass; Logits(pass) gives [B*T, V];
// Backward(pass, dLogits, grads) adds every parameter's gradient into grads
// (from NewGrads; Params of the model and of grads line up index by index). A
// fused loss that applies the LM head itself uses Pass.Hidden and
// BackwardHidden, and adds the head's gradient into grads.Head (which is
// grads.Embed when embeddings are tied). Pass.Release hands a pass's
// activations back to the model for the next Forward (a training loop that
// releases each pass after its backward allocates no activations after the
// first step); Backward's and Step's temporaries are recycled the same way.
//
// Generation: Step(caches, toks) appends tokens to per-sequence KV caches in
// one batched pass and returns the logits after each sequence's last token
// (StepInto writes them into a caller's buffer); LM{m} is the
// runtime/sample.LM adapter over it (a sample.IntoLM, so sample.Generate
// reuses one logits buffer); Greedy decodes one prompt. The products of a
// step with few rows (up to 64 sequences decoding together) read each weight
// once for all rows (runtime/blas's few-row kernels).
//
// A Model is read-only during Forward, Backward and Step, so several
// goroutines may use one model with their own passes and caches. Weights are
// written in place (the q/k/v and gate/up slices are adjacent views of one
// array each, multiplied in one Sgemm; replacing a slice still works, slower).
package model
