#!/bin/sh
# Builds karpathy/llm.c's train_gpt2.c (the fp32 CPU trainer) for
# BenchmarkTrainStep, in /tmp (its code is never committed here). Put a
# checkout at /tmp/llm.c (or set LLMC_DIR; the script clones one when it
# can reach GitHub); without one it says so and exits 0, and the benchmark
# skips its llm.c half.
#   runtime/model/testdata/build_llmc.sh && \
#   go test ./runtime/model -run '^$' -bench TrainStep -benchtime 1x
# The benchmark writes the random GPT-2 checkpoint and token files itself
# (the shape of BenchmarkTrainStep's Qwen3: 8 layers, 384 channels, 6 heads,
# vocabulary 8192, T=128) and runs the binary in that folder with OpenMP
# threads = GOMAXPROCS.
#
# train_gpt2.c hard-codes B=4, T=64 and 40 steps with a validation pass every
# 10 and sampling every 20; the copy built here (train_gpt2_bench.c, beside
# the original) takes B, T and the step count from -D flags and validates on
# one batch, so that it runs a few timed steps (its own "took X ms" lines:
# forward, backward and AdamW) and nothing else. Built like run.c:
# -Ofast -march=native -fopenmp -DOMP (CFLAGS overrides).
set -e
dir=${LLMC_DIR:-/tmp/llm.c}
if [ ! -f "$dir/train_gpt2.c" ] && [ ! -e "$dir" ] && command -v git >/dev/null; then
	echo "fetching https://github.com/karpathy/llm.c into $dir"
	timeout 120 git clone -q --depth 1 https://github.com/karpathy/llm.c "$dir" || rm -rf "$dir"
fi
if [ ! -f "$dir/train_gpt2.c" ]; then
	echo "build: $dir/train_gpt2.c not found and not fetched; skipping (put a checkout of https://github.com/karpathy/llm.c in $dir)"
	exit 0
fi
src="$dir/train_gpt2_bench.c"
sed -e 's/int B = 4;/int B = LLMC_B;/' \
	-e 's/int T = 64;/int T = LLMC_T;/' \
	-e 's/step <= 40;/step <= LLMC_STEPS;/' \
	-e 's/int val_num_batches = 5;/int val_num_batches = 1;/' \
	"$dir/train_gpt2.c" >"$src"
for s in LLMC_B LLMC_T LLMC_STEPS; do
	grep -q "$s" "$src" || { echo "build_llmc.sh: could not patch $s into $src (train_gpt2.c changed?)"; exit 1; }
done
cc=${CC:-gcc}
flags=${CFLAGS:--Ofast -march=native -fopenmp -DOMP}
$cc $flags -DLLMC_B=${LLMC_B:-4} -DLLMC_T=${LLMC_T:-128} -DLLMC_STEPS=${LLMC_STEPS:-4} \
	-Wno-unused-result -I"$dir" -o "$dir/train_gpt2" "$src" -lm
echo "built $dir/train_gpt2 with $cc $flags (B=${LLMC_B:-4} T=${LLMC_T:-128}, steps 0..${LLMC_STEPS:-4})"
