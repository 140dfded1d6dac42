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
# V=151936, d=4096 vs materialized logits) within 8 minutes, and keeps the
# log in bin/devcheck/device_check.log. Exit status: the tests'.
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=bin/devcheck
case "${1:-}" in
build)
	mkdir -p "$out"
	# -s -w: the binary must stay under the 64 MiB a device session can carry.
	go test -c -tags cuda -ldflags="-s -w" -o "$out/devcheck.test" ./runtime/cuda/devcheck
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
	echo "device_check.sh: exit $status (log: $out/device_check.log)"
	exit "$status"
	;;
*)
	echo "usage: $0 build|run" >&2
	exit 2
	;;
esac
