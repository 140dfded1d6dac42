#!/bin/sh
# Builds karpathy/llama2.c's run.c for BenchmarkGenerateStories260K and
# BenchmarkDecode15M, in /tmp (its code is never committed here). Put a
# checkout at /tmp/llama2.c (or set LLAMA2C_DIR; the script clones one when
# it can reach GitHub); without one it says so and exits 0, and the benchmarks skip their run.c half.
#   runtime/model/testdata/build_runc.sh && \
#   go test ./runtime/model -run '^$' -bench 'Stories260K|Decode15M'
# The binary is built with -Ofast -march=native and OpenMP (RUNC_CFLAGS
# replaces the first two); the benchmarks run it with OMP_NUM_THREADS =
# GOMAXPROCS so both sides use the same threads.
set -e
dir=${LLAMA2C_DIR:-/tmp/llama2.c}
if [ ! -f "$dir/run.c" ] && [ ! -e "$dir" ] && command -v git >/dev/null; then
	echo "fetching https://github.com/karpathy/llama2.c into $dir"
	timeout 120 git clone -q --depth 1 https://github.com/karpathy/llama2.c "$dir" || rm -rf "$dir"
fi
if [ ! -f "$dir/run.c" ]; then
	echo "build: $dir/run.c not found and not fetched; skipping (put a checkout of https://github.com/karpathy/llama2.c in $dir)"
	exit 0
fi
cc=${CC:-gcc}
flags=${RUNC_CFLAGS:--Ofast -march=native}
$cc $flags -fopenmp -o "$dir/run" "$dir/run.c" -lm
echo "built $dir/run with $cc $flags -fopenmp"
