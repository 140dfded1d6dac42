// Package gpu is the GPU kernels.Machine: device memory, realc's kernels
// (runtime/cuda/kernels, compiled at start by NVRTC for the device's
// architecture, or loaded from PTX given in Options) launched through
// runtime/cuda, and GEMMs through cuBLAS loaded with dlopen
// (runtime/cuda/dl). Behind the cuda build tag (it imports gorgonia.org/cu);
// without it Open reports that the binary has no CUDA support.
//
// A Machine is used from the goroutine that opened it (the CUDA context is
// current on that OS thread). Every operation is queued on the default
// stream in order; Read waits for the queue.
package gpu

// Options tunes Open.
type Options struct {
	// PTX, when not empty, is loaded instead of compiling the kernels with
	// NVRTC (e.g. nvcc -ptx of kernels.Program()).
	PTX string
	// NVRTCOptions are added to NVRTC's (the architecture is set from the
	// device).
	NVRTCOptions []string
}
