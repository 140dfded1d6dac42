// emucuda: module loading and kernel launches of a fake libcuda.so.1 that
// RUNS realc's kernels on the CPU (emu.h), for tests of the GPU backend's
// host code on machines without a GPU. Linked with
// runtime/cuda/fakecuda/fakecuda.c built with -DFAKE_CUDA_EMU (context,
// memory: device memory is host memory). Built by the test with
// g++ -std=c++20 -shared -fPIC -DREALC_EMU -include emu.h, with kernels.inc
// and table.inc as for runner.cc.
//
// cuModuleLoadData reads the .entry parameter lists of the PTX it is given
// (NVRTC's or nvcc's) and cuModuleGetFunction checks them against the sizes
// of the compiled kernel's C++ parameters, so a PTX whose signature
// disagrees with the source fails here. cuLaunchKernel reads each
// parameter's bytes from kernelParams[i] as the driver does.
#include <stdio.h>
#include <stdlib.h>

#include <map>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>

#include "kernels.inc"

typedef int CUresult;

template <class T>
static T from_param(void* p) {
	T v;
	memcpy(&v, p, sizeof v);
	return v;
}

template <class... P, size_t... I>
static void call(void (*f)(P...), void** params, std::index_sequence<I...>) {
	f(from_param<P>(params[I])...);
}

struct Entry {
	std::vector<int> sizes;
	std::function<void(void**)> run;
};

template <class... P>
static Entry entry(void (*f)(P...)) {
	return Entry{{(int)sizeof(P)...}, [f](void** params) { call(f, params, std::index_sequence_for<P...>{}); }};
}

static std::map<std::string, Entry> table = {
#define EMU_KERNEL(name) {#name, entry(name)},
#include "table.inc"
#undef EMU_KERNEL
};

struct Module {
	std::map<std::string, std::vector<int>> entries; // from the PTX
};

static void parse_ptx(const char* image, Module* m) {
	const char* p = image;
	while ((p = strstr(p, ".entry ")) != nullptr) {
		p += 7;
		size_t n = strcspn(p, "( \t\n");
		std::string name(p, n);
		const char* end = strchr(p, ')');
		std::vector<int> sizes;
		const char* q = p;
		while ((q = strstr(q, ".param")) != nullptr && (end == nullptr || q < end)) {
			q += 6;
			while (*q == ' ' || *q == '\t') q++;
			int bits = 0;
			if (*q == '.') sscanf(q + 2, "%d", &bits);
			sizes.push_back(bits / 8);
		}
		m->entries[name] = sizes;
		p += n;
	}
}

extern "C" {

CUresult cuModuleLoadData(void** mod, const void* image) {
	Module* m = new Module;
	parse_ptx((const char*)image, m);
	*mod = m;
	return 0;
}

CUresult cuModuleUnload(void* mod) {
	delete (Module*)mod;
	return 0;
}

CUresult cuModuleGetFunction(void** fn, void* mod, const char* name) {
	Module* m = (Module*)mod;
	auto e = m->entries.find(name);
	auto t = table.find(name);
	if (e == m->entries.end() || t == table.end()) return 500; // CUDA_ERROR_NOT_FOUND
	if (e->second != t->second.sizes) {
		fprintf(stderr, "emucuda: %s: the PTX parameter sizes differ from the compiled kernel's\n", name);
		return 218; // CUDA_ERROR_INVALID_PTX
	}
	*fn = &t->second;
	return 0;
}

CUresult cuLaunchKernel(void* fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz, unsigned shared,
                        void* stream, void** params, void** extra) {
	(void)stream;
	if (gy != 1 || gz != 1 || by != 1 || bz != 1 || shared != 0 || extra != nullptr || bx % 32 != 0 || bx == 0 || bx > 1024) {
		return 1; // CUDA_ERROR_INVALID_VALUE: realc launches 1-D grids only
	}
	Entry* e = (Entry*)fn;
	emu_launch((int)gx, (int)bx, [&] { e->run(params); });
	return 0;
}

} // extern "C"
