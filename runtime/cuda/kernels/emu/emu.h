// emu.h runs realc's CUDA kernels on the CPU, for tests on machines without
// a GPU: g++ -std=c++20 -DREALC_EMU -include emu.h compiles the .cu files as
// host C++. emu_launch runs a grid block after block; each block's threads
// are OS threads: __syncthreads is a barrier of the block, the warp
// shuffles exchange through memory between the 32 threads of a warp (with a
// barrier of the warp), __shared__ variables are static (one block runs at
// a time), atomics are real atomics. A thread that returns drops out of the
// barriers, as an exited GPU thread does. Races and missing barriers show up
// as wrong results or deadlocks.
#pragma once
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

using std::max;
using std::min;

struct dim3 {
	unsigned x, y, z;
};
inline thread_local dim3 threadIdx = {0, 0, 0};
inline dim3 blockIdx = {0, 0, 0};
inline dim3 blockDim = {1, 1, 1};
inline dim3 gridDim = {1, 1, 1};

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#define __restrict__ __restrict
#define __launch_bounds__(...)

inline std::barrier<>* emu_block_barrier;
inline std::barrier<>* emu_warp_barrier[32];
inline uint64_t emu_lanes[1024];

inline void __syncthreads(void) { emu_block_barrier->arrive_and_wait(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) {
	(void)mask;
	emu_warp_barrier[threadIdx.x / 32]->arrive_and_wait();
}

template <class T>
inline T emu_exchange(T v, unsigned src) {
	static_assert(sizeof(T) <= 8);
	unsigned t = threadIdx.x, w = t / 32;
	std::barrier<>* b = emu_warp_barrier[w];
	uint64_t bits = 0;
	memcpy(&bits, &v, sizeof v);
	emu_lanes[t] = bits;
	b->arrive_and_wait();
	bits = emu_lanes[w * 32 + (src & 31)];
	b->arrive_and_wait();
	T r;
	memcpy(&r, &bits, sizeof r);
	return r;
}

template <class T>
inline T __shfl_xor_sync(unsigned mask, T v, int lanemask) {
	(void)mask;
	return emu_exchange(v, (threadIdx.x & 31) ^ (unsigned)lanemask);
}

template <class T>
inline T __shfl_sync(unsigned mask, T v, int src) {
	(void)mask;
	return emu_exchange(v, (unsigned)src);
}

inline float __uint_as_float(unsigned u) {
	float f;
	memcpy(&f, &u, 4);
	return f;
}
inline unsigned __float_as_uint(float f) {
	unsigned u;
	memcpy(&u, &f, 4);
	return u;
}
inline float __int_as_float(int i) {
	float f;
	memcpy(&f, &i, 4);
	return f;
}
inline double __longlong_as_double(long long x) {
	double d;
	memcpy(&d, &x, 8);
	return d;
}
// The _rn intrinsics are IEEE operations (compile with -ffp-contract=off).
inline double __dadd_rn(double a, double b) { return a + b; }
inline double __dmul_rn(double a, double b) { return a * b; }
inline double __ddiv_rn(double a, double b) { return a / b; }
inline double __dsqrt_rn(double a) { return sqrt(a); }

inline float atomicAdd(float* p, float v) { return std::atomic_ref<float>(*p).fetch_add(v); }
inline double atomicAdd(double* p, double v) { return std::atomic_ref<double>(*p).fetch_add(v); }
inline int atomicAdd(int* p, int v) { return std::atomic_ref<int>(*p).fetch_add(v); }
inline int atomicCAS(int* p, int cmp, int val) {
	std::atomic_ref<int>(*p).compare_exchange_strong(cmp, val);
	return cmp;
}

// Vector types (the generated loss kernels read bf16 rows 8 at a time).
struct uint4 {
	unsigned x, y, z, w;
};

// emu_launch runs f as kernel<<<grid, block>>> (block a multiple of 32, at
// most 1024): block threads, each looping over the blocks.
inline void emu_launch(int grid, int block, const std::function<void()>& f) {
	blockDim = {(unsigned)block, 1, 1};
	gridDim = {(unsigned)grid, 1, 1};
	std::barrier<> between(block);
	std::unique_ptr<std::barrier<>> bb;
	std::vector<std::unique_ptr<std::barrier<>>> wb(block / 32);
	std::vector<std::thread> ts;
	for (int t = 0; t < block; t++) {
		ts.emplace_back([&, t] {
			threadIdx = {(unsigned)t, 0, 0};
			for (int g = 0; g < grid; g++) {
				between.arrive_and_wait();
				if (t == 0) {
					blockIdx = {(unsigned)g, 0, 0};
					bb.reset(new std::barrier<>(block));
					emu_block_barrier = bb.get();
					for (int w = 0; w < block / 32; w++) {
						wb[w].reset(new std::barrier<>(32));
						emu_warp_barrier[w] = wb[w].get();
					}
				}
				between.arrive_and_wait();
				f();
				// Exited threads no longer hold up barriers.
				emu_block_barrier->arrive_and_drop();
				emu_warp_barrier[t / 32]->arrive_and_drop();
			}
		});
	}
	for (auto& th : ts) {
		th.join();
	}
}
