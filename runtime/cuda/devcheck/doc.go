// Package devcheck is the on-device check of realc's CUDA backend: a test
// binary built here (runtime/cuda/testdata/device_check.sh build) and run on
// a GPU machine that has no Go toolchain (device_check.sh run). Its tests,
// behind the cuda tag, check
//
//   - TestDeviceDoctor: the driver, the GPU and the libraries found;
//   - TestDeviceKernels: every kernel and GEMM type pair on random inputs at
//     small and realistic sizes, against the CPU twins;
//   - TestDeviceTrainStep: one step of recipe REAL on a tiny Qwen3 (GPU
//     forward, REAL's loss gradient, GPU backward, gradient norm, clipping,
//     AdamW) against the same step on the CPU, within bounds derived from
//     bf16 rounding (runtime/cuda/gpumodel/gpumodeltest), and decoding
//     against model.Step;
//   - TestDeviceRecipeLoss: REAL's generated loss kernels on the GPU,
//     materialized and fused, against the compiler's evaluator;
//   - TestDeviceFusedLoss: the fused loss at N=8192, V=151,936, d=4096
//     against the materialized-logits path: agreement, time, TFLOP/s against
//     the chip's bf16 rate, peak memory.
//
// The binary reads recipes/real.rl and generated/real/ from the checkout it
// runs in.
package devcheck
