#!/bin/sh
# Builds karpathy/llama2.c's run.c for BenchmarkGenerateStories260K, in /tmp
# (its code is never committed here). Put a checkout at /tmp/llama2.c (or set
# LLAMA2C_DIR); without one this script says so and exits 0, and the benchmark
# skips its run.c half.
#   runtime/model/testdata/build_runc.sh && \
#   go test ./runtime/model -run '^$' -bench GenerateStories260K
# The binary is built with -O3 and OpenMP; the benchmark runs it with
# OMP_NUM_THREADS = GOMAXPROCS so both sides use the same threads.
set -e
dir=${LLAMA2C_DIR:-/tmp/llama2.c}
if [ ! -f "$dir/run.c" ]; then
	echo "build_runc.sh: $dir/run.c not found; skipping (fetch karpathy/llama2.c into $dir)"
	exit 0
fi
cc=${CC:-gcc}
$cc -O3 -fopenmp ${RUNC_CFLAGS:-} -o "$dir/run" "$dir/run.c" -lm
echo "built $dir/run with $cc -O3 -fopenmp ${RUNC_CFLAGS:-}"
