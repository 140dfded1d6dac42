// emu.h runs generated CUDA kernels on the CPU, for tests on machines
// without a GPU: g++ -std=c++20 -include emu.h compiles kernels.cu as host
// C++. emu_launch runs a grid block after block, each block as blockDim.x
// OS threads: __syncthreads is a barrier of the block, __shfl_xor_sync an
// exchange through memory between the threads of a warp (32 lanes, with a
// barrier of the warp), __shared__ variables are static (blocks run one at a
// time). Races and missing barriers show up as wrong results.
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <barrier>
#include <memory>
#include <thread>
#include <vector>

struct dim3 {
	unsigned x, y, z;
};
thread_local dim3 threadIdx = {0, 0, 0};
static dim3 blockIdx = {0, 0, 0};
static dim3 blockDim = {1, 1, 1};

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
#define __restrict__ __restrict

static std::barrier<>* emu_block_barrier;
static std::barrier<>* emu_warp_barrier[32];
static float emu_lanes[1024];

static inline void __syncthreads(void) { emu_block_barrier->arrive_and_wait(); }

static inline float __shfl_xor_sync(unsigned mask, float v, int lane) {
	(void)mask;
	unsigned t = threadIdx.x;
	std::barrier<>* b = emu_warp_barrier[t / 32];
	emu_lanes[t] = v;
	b->arrive_and_wait();
	float r = emu_lanes[t ^ (unsigned)lane];
	b->arrive_and_wait();
	return r;
}

static inline float __uint_as_float(unsigned u) {
	float f;
	memcpy(&f, &u, 4);
	return f;
}
static inline unsigned __float_as_uint(float f) {
	unsigned u;
	memcpy(&u, &f, 4);
	return u;
}
static inline double __longlong_as_double(long long x) {
	double d;
	memcpy(&d, &x, 8);
	return d;
}
struct uint4 {
	unsigned x, y, z, w;
};

static inline int atomicCAS(int* a, int cmp, int val) {
	int old = __atomic_load_n(a, __ATOMIC_SEQ_CST);
	__atomic_compare_exchange_n(a, &cmp, val, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	return old;
}

// emu_launch runs f as kernel<<<grid, block>>> (block a multiple of 32).
template <class F>
static void emu_launch(int grid, int block, F f) {
	blockDim.x = (unsigned)block;
	for (int g = 0; g < grid; g++) {
		blockIdx.x = (unsigned)g;
		std::barrier<> bb(block);
		emu_block_barrier = &bb;
		std::vector<std::unique_ptr<std::barrier<>>> wb;
		for (int w = 0; w < block / 32; w++) {
			wb.emplace_back(new std::barrier<>(32));
			emu_warp_barrier[w] = wb.back().get();
		}
		std::vector<std::thread> ts;
		for (int t = 0; t < block; t++) {
			ts.emplace_back([t, &f] {
				threadIdx.x = (unsigned)t;
				f();
			});
		}
		for (auto& th : ts) {
			th.join();
		}
	}
}
