# realc. `make test` is the command CI runs (see README.md and .ci/run).
GO        ?= go
BIN       ?= bin
FUZZTIME  ?= 20s

.PHONY: dist-test bench-dist-train all build test test-openblas golden bench bench-decode bench-loss bench-train cuda-check fuzz demo demo-ci demo-seeds vet clean

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
	else echo "cuda.h not installed: skipping go vet -tags cuda (bash .ci/install --cuda installs it)"; fi

# Rewrite every golden file (generated code, diagnostics) from the current compiler.
golden:
	$(GO) test ./... -update

# -short shrinks the full-size fused-loss benchmarks (make bench-loss runs those).
# run.c and llm.c are built first (each script skips with a message when it has
# no checkout) so that the side-by-side benchmarks print their ratios, each as
# min / median / max over REALC_BENCH_REPS (default 3) repetitions.
bench:
	sh runtime/model/testdata/build_runc.sh
	sh runtime/model/testdata/build_llmc.sh
	$(GO) test -short -run '^$$' -bench . -benchtime 3x ./...

# Decoding on the stories15M shape beside run.c: n = 1, 8, 16, 64 rollout
# ratios, min / median / max over REALC_BENCH_REPS (default 5 here).
bench-decode:
	sh runtime/model/testdata/build_runc.sh
	REALC_BENCH_REPS=$${REALC_BENCH_REPS:-5} $(GO) test -run '^$$' -bench 'Decode15M|Stories260K' -benchtime 1x ./runtime/model

bench-loss:
	$(GO) test -tags openblas -run '^$$' -bench 'Loss' -benchtime 1x ./codegen/... ./generated/...

# The trainer of recipes/real.rl on a ~3M-parameter Qwen3, side by side in one run:
# rollout tok/s batched (prompt prefilled once, n samples decoded together) vs one
# sequence at a time, update tok/s and GFLOP/s vs the machine's Sgemm, each stage's
# share of a step, peak RSS.
bench-train:
	$(GO) test -run '^$$' -bench 'Train' -benchtime 3x ./generated/real

# Compiles every generated CUDA kernel and the runtime's transformer kernels to PTX for sm_80
# and sm_90 (warnings fail), then runs the CUDA host tests that need cuda.h and nvcc.
cuda-check:
	$(GO) vet -tags cuda ./...
	@command -v nvcc >/dev/null || { echo "nvcc not found: run bash .ci/install --cuda"; exit 1; }
	@set -e; for f in $$(find generated runtime/cuda/kernels -name '*.cu' | sort); do \
		for arch in sm_80 sm_90; do \
			nvcc -ptx -arch=$$arch -Werror all-warnings -o /dev/null $$f; \
		done; echo "nvcc ok: $$f"; done
	REALC_REQUIRE_NVCC=1 $(GO) test -count=1 -run 'TestNVCC|TestNVRTC' ./runtime/cuda/kernels/
	$(GO) test -count=1 -timeout 60m ./runtime/cuda/gpu/...

# Every fuzz target of the module for FUZZTIME each (go test -fuzz takes one
# target at a time). The targets are found by grep, so a new one is fuzzed
# without editing this list.
# The communicator, FSDP and BIN train under real MPI ranks (mpirun -np 2 and 3;
# needs OpenMPI: bash .ci/install --mpi).
dist-test:
	$(GO) vet -tags mpi ./runtime/dist/... ./runtime/train/... && $(GO) vet -tags cuda,mpi ./runtime/dist/...
	$(GO) test -count=1 -tags mpi -timeout 20m ./runtime/dist/... ./runtime/train/...

# Step time of BIN train at world size 1, 2 and 3 under mpirun (min/median/max).
bench-dist-train:
	REALC_TRAIN_MPI_BENCH=big $(GO) test -count=1 -tags mpi -run TestMPIStepTime -v ./runtime/train/

fuzz:
	@set -e; grep -rl --include='*_test.go' --exclude-dir=testdata --exclude-dir=.git '^func Fuzz' . | sort | \
	while read -r f; do \
		for fn in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$$f"); do \
			echo "== $(GO) test $$(dirname "$$f") -fuzz $$fn -fuzztime $(FUZZTIME)"; \
			$(GO) test "$$(dirname "$$f")" -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME); \
		done; \
	done

# The main job on its embedded default, all on the CPU: a judge trained from scratch.
# realc writes a judge task (name five fruits; the score is the number of fruits
# among the response's five lines; gold CoTs check line by line and name the words
# that are not) as verl parquet with a BPE tokenizer trained on
# it, initializes a small Qwen3, warms it up with SFT on the gold CoTs, then trains
# RAFT, GRPO and REAL from that checkpoint with the same prompts, and evaluates the
# four on the test split: bin/demo/report.md, with the training curves beside it.
# Everything goes through `realc build` of recipes/ and `BIN train`. The sizes are
# variables so that CI can run a shortened form (make demo-ci).
SHARED          ?= ../shared/data
DEMO            ?= $(BIN)/demo
DEMO_SEED       ?= 1
DEMO_TRAIN      ?= 4000
DEMO_TEST       ?= 200
DEMO_WARM_STEPS ?= 200
DEMO_WARM_PROMPTS ?= 8
DEMO_RL_STEPS   ?= 20
DEMO_PROMPTS    ?= 8
DEMO_N          ?= 4
DEMO_LR         ?= 1e-4
DEMO_MODEL      ?= --dim 128 --layers 2 --heads 4
DEMO_EVAL       ?= --max-tokens 64 --policy blind
demo: build
	$(BIN)/realc check recipes/*.rl
	@for r in sft raft grpo real; do $(BIN)/realc build recipes/$$r.rl -o $(BIN)/$$r >/dev/null || exit 1; done
	rm -rf $(DEMO) && mkdir -p $(DEMO)
	$(BIN)/realc demo-task --out $(DEMO)/task --seed $(DEMO_SEED) --train $(DEMO_TRAIN) --val 50 --test $(DEMO_TEST) --vocab 1024
	$(BIN)/realc tiny-model --tokenizer $(DEMO)/task/tokenizer/tokenizer.json $(DEMO_MODEL) --std 0.02 --seed $(DEMO_SEED) $(DEMO)/init
	$(BIN)/sft train --model $(DEMO)/init --train $(DEMO)/task/train.parquet --val $(DEMO)/task/val.parquet \
		--eval-max-tokens 64 --out $(DEMO)/warmup --seed $(DEMO_SEED) --steps $(DEMO_WARM_STEPS) --prompts-per-step $(DEMO_WARM_PROMPTS) --lr 3e-3 --warmup 0.05
	@set -e; warm=$(DEMO)/warmup/$$(cat $(DEMO)/warmup/latest); \
	common="--train $(DEMO)/task/train.parquet --val $(DEMO)/task/val.parquet --eval-max-tokens 64 --seed $(DEMO_SEED) \
		--steps $(DEMO_RL_STEPS) --prompts-per-step $(DEMO_PROMPTS) --lr $(DEMO_LR)"; \
	rl="--n $(DEMO_N) --max_response 64 --buffer $(DEMO_PROMPTS) --mini_batch $$(( $(DEMO_PROMPTS) * $(DEMO_N) ))"; \
	echo "== RAFT from $$warm"; $(BIN)/raft train --model $$warm $$common --out $(DEMO)/raft --epochs 1 --warmup 0; \
	echo "== GRPO from $$warm"; $(BIN)/grpo train --model $$warm $$common $$rl --out $(DEMO)/grpo; \
	echo "== REAL from $$warm"; $(BIN)/real train --model $$warm $$common $$rl --out $(DEMO)/real; \
	for m in warmup raft grpo real; do \
		echo "== test-set evaluation of $$m"; \
		$(BIN)/realc eval --model $(DEMO)/$$m/$$(cat $(DEMO)/$$m/latest) $(DEMO_EVAL) --out $(DEMO)/eval/$$m $(DEMO)/task/test.parquet >/dev/null; \
		mkdir -p $(DEMO)/curves/$$m && cp $(DEMO)/$$m/*.png $(DEMO)/curves/$$m/ 2>/dev/null || true; \
	done
	$(BIN)/realc demo-report --out $(DEMO)/report.md --title "Test set ($(DEMO_TEST) items), seed $(DEMO_SEED)" \
		warm-up=$(DEMO)/eval/warmup RAFT=$(DEMO)/eval/raft GRPO=$(DEMO)/eval/grpo REAL=$(DEMO)/eval/real

# The comparison over 3 seeds (task, weights, sampling), each a full make demo in
# its own folder, then one table of mean ± standard deviation (outside the budget).
DEMO_SEEDS ?= 1 2 3
demo-seeds:
	@set -e; for s in $(DEMO_SEEDS); do $(MAKE) demo DEMO=$(DEMO)-seeds/seed-$$s DEMO_SEED=$$s; done
	@args=""; for m in warmup:warm-up raft:RAFT grpo:GRPO real:REAL; do \
		dirs=""; for s in $(DEMO_SEEDS); do dirs="$$dirs,$(DEMO)-seeds/seed-$$s/eval/$${m%%:*}"; done; \
		args="$$args $${m##*:}=$${dirs#,}"; done; \
	$(BIN)/realc demo-report --out $(DEMO)-seeds/report.md --title "Test set, mean ± std over seeds $(DEMO_SEEDS)" $$args

# A few steps of every stage, so that CI keeps the demo's path green.
demo-ci:
	$(MAKE) demo DEMO_TRAIN=200 DEMO_TEST=16 DEMO_WARM_STEPS=2 DEMO_RL_STEPS=1 DEMO_PROMPTS=2 DEMO_MODEL="--dim 32 --layers 2 --heads 4" DEMO_EVAL="--max-tokens 16 --policy blind"

clean:
	rm -rf $(BIN)
