#!/usr/bin/env bash
# The on-device check of realc's CUDA backend (see runtime/cuda/devcheck).
#
#   runtime/cuda/testdata/device_check.sh build   # here: needs Go and cuda.h; writes bin/devcheck/
#   runtime/cuda/testdata/device_check.sh run     # on the GPU machine (no Go), from a checkout
#                                                 # with bin/devcheck/ carried over
#
# run prints what the driver and the libraries are, then runs every device
# test (kernels vs their CPU twins; one REAL step of a tiny Qwen3 vs the CPU;
# REAL's loss kernels vs the evaluator; the fused loss at N=8192,
# V=151936, d=4096 vs materialized logits), then recipe real's trainer for two
# steps and `eval` on its rows, each with --device cpu and --device cuda,
# within 8 minutes, and keeps the
# log in bin/devcheck/device_check.log. Exit status: the tests'.
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=bin/devcheck
case "${1:-}" in
build)
	mkdir -p "$out"
	# -s -w: the binary must stay under the 64 MiB a device session can carry.
	go test -c -tags cuda -ldflags="-s -w" -o "$out/devcheck.test" ./runtime/cuda/devcheck
	# Recipe real's trainer with the GPU engine, and a tiny judge with data
	# and replayed rollouts for `train --device cuda` (run compares it with
	# --device cpu).
	# Gzipped: with devcheck.test it would pass the 64 MiB a session carries.
	go build -tags cuda -ldflags="-s -w" -o "$out/real" ./generated/real
	gzip -9 -f "$out/real"
	SETUP_DIR="$PWD/$out/judge" go run ./runtime/cuda/testdata/tinyjudge
	ls -l "$out"
	;;
run)
	test -x "$out/devcheck.test" || { echo "device_check.sh: $out/devcheck.test missing: run 'device_check.sh build' where Go is, and carry $out" >&2; exit 2; }
	command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
	cd runtime/cuda/devcheck
	set +e
	timeout 480 "../../../$out/devcheck.test" -test.v -test.timeout 470s -test.run "${RUN:-^TestDevice}" 2>&1 | tee "../../../$out/device_check.log"
	status=${PIPESTATUS[0]}
	set -e
	cd ../../..
	# train --device cuda for two steps against --device cpu (compare the
	# metrics.jsonl lines: step 1's loss and grad_norm agree within bf16's
	# bounds, see runtime/cuda/gpu/train_emu_test.go).
	if [ -f "$out/real.gz" ] && [ -d "$out/judge" ]; then
		gunzip -c "$out/real.gz" > "$out/real" && chmod +x "$out/real"
		for d in cpu cuda; do
			rm -rf "$out/train-$d"
			timeout 120 "$out/real" train --model "$out/judge/judge" --train "$out/judge/train.parquet" --rollouts "$out/judge/rollouts.jsonl" \
				--out "$out/train-$d" --device $d --steps 2 --prompts-per-step 2 --n 4 --buffer 2 --mini_batch 8 --epochs 1 --lr 0.001 \
				--max_response 64 --max_prompt 512 --seed 3 --quiet 2>&1 | tee -a "$out/device_check.log" || status=1
			head -c 600 "$out/train-$d/metrics.jsonl" | tee -a "$out/device_check.log"; echo
		done
		# eval --device cuda against --device cpu on the training rows: greedy,
		# so the same outputs and parse failures; the predictions within the
		# bf16 bound of runtime/cuda/gpu/eval_emu_test.go.
		for d in cpu cuda; do
			rm -rf "$out/eval-$d"
			timeout 120 "$out/real" eval --model "$out/judge/judge" --device $d --temperature 0 --max-tokens 64 --n 1 \
				--policy blind --out "$out/eval-$d" "$out/judge/train.parquet" 2>&1 | tee -a "$out/device_check.log" || status=1
		done
	fi
	echo "device_check.sh: exit $status (log: $out/device_check.log)"
	exit "$status"
	;;
*)
	echo "usage: $0 build|run" >&2
	exit 2
	;;
esac
