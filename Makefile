# realc. `make test` is the command CI runs (see README.md and .ci/run).
GO        ?= go
BIN       ?= bin
FUZZTIME  ?= 20s

.PHONY: all build test test-openblas golden bench bench-loss bench-train cuda-check fuzz demo vet clean

all: build

build:
	$(GO) build -o $(BIN)/realc ./cmd/realc

# The test suite: pure Go (no cgo library needed), then the OpenBLAS-backed
# paths when libopenblas is installed.
test:
	$(GO) vet ./...
	$(GO) test ./...
	@if pkg-config --exists openblas 2>/dev/null || [ -e /usr/lib/x86_64-linux-gnu/libopenblas.so ]; then \
		$(GO) test -tags openblas ./runtime/blas/...; \
	else echo "openblas not installed: skipping -tags openblas tests"; fi
	@if [ -e /usr/include/cuda.h ]; then \
		echo "go vet -tags cuda ./..."; $(GO) vet -tags cuda ./...; \
	else echo "cuda.h not installed: skipping go vet -tags cuda (see .ci/install)"; fi

# Rewrite every golden file (generated code, diagnostics) from the current compiler.
golden:
	$(GO) test ./... -update

# -short shrinks the full-size fused-loss benchmarks (make bench-loss runs those).
bench:
	$(GO) test -short -run '^$$' -bench . -benchtime 3x ./...

bench-loss:
	$(GO) test -tags openblas -run '^$$' -bench 'Loss' -benchtime 1x ./codegen/... ./generated/...

# The trainer of recipes/real.rl on a ~3M-parameter Qwen3, side by side in one run:
# rollout tok/s batched (prompt prefilled once, n samples decoded together) vs one
# sequence at a time, update tok/s and GFLOP/s vs the machine's Sgemm, each stage's
# share of a step, peak RSS.
bench-train:
	$(GO) test -run '^$$' -bench 'Train' -benchtime 3x ./generated/real

# Compiles every generated CUDA kernel to PTX for sm_80 and sm_90; warnings fail.
cuda-check:
	@command -v nvcc >/dev/null || { echo "nvcc not found: install nvidia-cuda-toolkit (see .ci/run)"; exit 1; }
	@set -e; for f in $$(find generated -name '*.cu' | sort); do \
		for arch in sm_80 sm_90; do \
			nvcc -ptx -arch=$$arch -Werror all-warnings -o /dev/null $$f; \
		done; echo "nvcc ok: $$f"; done

fuzz:
	$(GO) test ./dsl -run '^$$' -fuzz FuzzParseCheck -fuzztime $(FUZZTIME)

# The main job on its embedded default, all on the CPU: check every recipe, compile
# REAL into its trainer and run its generated kernels against the float64 reference on
# the example batch, write a tiny Qwen3 judge (Qwen3 tokenizer), run two REAL training
# steps on MT-Bench prompts (rollouts, scoring, checkpoint, metrics), evaluate it on
# MT-Bench and Vicuna (an untrained judge: expect correlations near 0), and convert
# a judge set to verl parquet.
SHARED ?= ../shared/data
DEMO   ?= $(BIN)/demo
demo: build
	@mkdir -p $(DEMO)
	$(BIN)/realc check recipes/*.rl
	$(BIN)/realc explain recipes/real.rl | head -40
	$(BIN)/realc build recipes/real.rl -o $(BIN)/real
	@echo "generated kernels: $$($(BIN)/real loss --batch compiler/testdata/batch_example.json | grep -o '"loss":[^,}]*')"
	@echo "float64 reference: $$($(BIN)/realc eval-loss recipes/real.rl --batch compiler/testdata/batch_example.json | grep -o '"loss":[^,}]*')"
	rm -rf $(DEMO)/judge $(DEMO)/run
	$(BIN)/realc tiny-model --vocab 151936 $(DEMO)/judge
	cp $(SHARED)/tokenizers/qwen3/tokenizer.json $(SHARED)/tokenizers/qwen3/tokenizer_config.json $(DEMO)/judge/
	$(BIN)/real train --model $(DEMO)/judge --train $(SHARED)/prometheus/mt_bench_eval.json --round-gt --out $(DEMO)/run \
		--steps 2 --prompts-per-step 2 --n 4 --max_response 16 --buffer 2
	@echo "run: $$(ls $(DEMO)/run | tr '\n' ' ')"; head -c 400 $(DEMO)/run/metrics.jsonl; echo
	$(BIN)/realc eval --model $(DEMO)/judge --tokenizer $(SHARED)/tokenizers/qwen3/tokenizer.json --policy blind --limit 16 --max-tokens 24 --out $(DEMO)/eval \
		$(SHARED)/prometheus/mt_bench_eval.json $(SHARED)/prometheus/vicuna_eval.json
	$(BIN)/realc data convert $(SHARED)/prometheus/mt_bench_eval.json $(DEMO)/mt_bench.parquet
	$(BIN)/realc data inspect $(DEMO)/mt_bench.parquet | head -c 600; echo

clean:
	rm -rf $(BIN)
