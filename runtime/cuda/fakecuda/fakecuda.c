// A fake libcuda.so.1 for tests of realc's CUDA host glue on machines without
// a GPU. Build: gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o libcuda.so.1 fakecuda.c
// and put its folder first in LD_LIBRARY_PATH. Device memory is host memory;
// kernels do not run: cuLaunchKernel appends a line to the file named by
// FAKE_CUDA_LOG with the kernel's name, grid, block and every parameter's
// bytes (the parameter sizes come from the .entry signature in the PTX given
// to cuModuleLoadData). Only the entry points realc calls are defined; the
// dynamic loader binds the rest lazily and never needs them.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;

#define MAX_FUNCS 64
#define MAX_PARAMS 64

struct fake_func {
	char name[128];
	int nparams;
	int size[MAX_PARAMS];
};

struct fake_module {
	int nfuncs;
	struct fake_func funcs[MAX_FUNCS];
};

static int fake_ctx;

// FAKE_CUDA_INIT_ERROR=<code> makes cuInit fail with that code (100: no
// device); FAKE_CUDA_DEVICES=<n> sets the device count (default 1).
static int env_int(const char* name, int def) {
	const char* v = getenv(name);
	return v && *v ? atoi(v) : def;
}
CUresult cuInit(unsigned int flags) { return flags != 0 ? 1 : env_int("FAKE_CUDA_INIT_ERROR", 0); }
CUresult cuDriverGetVersion(int* v) { *v = 13000; return 0; }
CUresult cuDeviceGetCount(int* n) { *n = env_int("FAKE_CUDA_DEVICES", 1); return 0; }
CUresult cuDeviceGet(CUdevice* d, int ordinal) { *d = ordinal; return ordinal >= 0 && ordinal < env_int("FAKE_CUDA_DEVICES", 1) ? 0 : 101; }
CUresult cuDeviceGetName(char* name, int n, CUdevice d) { snprintf(name, (size_t)n, "Fake GPU %d", d); return 0; }
CUresult cuDeviceTotalMem_v2(size_t* bytes, CUdevice d) { *bytes = (size_t)(80 + d) << 30; return 0; }
CUresult cuDeviceGetAttribute(int* v, int attr, CUdevice d) {
	(void)d;
	switch (attr) {
	case 16: *v = 132; return 0; // multiprocessors
	case 75: *v = 9; return 0;   // compute capability major
	case 76: *v = 0; return 0;   // minor
	}
	*v = 0;
	return 0;
}
CUresult cuGetErrorString(CUresult r, const char** s) {
	*s = r == 100 ? "no CUDA-capable device is detected" : "fake CUDA error";
	return 0;
}
CUresult cuDevicePrimaryCtxRetain(void** ctx, CUdevice d) { (void)d; *ctx = &fake_ctx; return 0; }
CUresult cuDevicePrimaryCtxRelease(CUdevice d) { (void)d; return 0; }
CUresult cuDevicePrimaryCtxRelease_v2(CUdevice d) { (void)d; return 0; }
CUresult cuCtxSetCurrent(void* ctx) { return ctx == &fake_ctx ? 0 : 201; }
CUresult cuCtxSynchronize(void) { return 0; }

CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t n) {
	void* m = calloc(1, n);
	if (!m) return 2;
	*p = (CUdeviceptr)m;
	return 0;
}
CUresult cuMemFree_v2(CUdeviceptr p) { free((void*)p); return 0; }
CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void* src, size_t n) { memcpy((void*)dst, src, n); return 0; }
CUresult cuMemcpyDtoH_v2(void* dst, CUdeviceptr src, size_t n) { memcpy(dst, (const void*)src, n); return 0; }
CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) { memmove((void*)dst, (const void*)src, n); return 0; }
CUresult cuMemsetD8_v2(CUdeviceptr dst, unsigned char c, size_t n) { memset((void*)dst, c, n); return 0; }
CUresult cuMemGetInfo_v2(size_t* free_, size_t* total) { *free_ = (size_t)70 << 30; *total = (size_t)80 << 30; return 0; }

// With FAKE_CUDA_EMU, runtime/cuda/kernels/emu/emucuda.cc supplies module
// loading and launches (it runs the kernels) and this file the rest.
#ifndef FAKE_CUDA_EMU

// Parameter sizes of an .entry: ".param .u64 x" is 8 bytes, ".u32/.s32/.f32" 4.
static void parse_entry(const char* p, struct fake_func* f) {
	const char* end = strchr(p, ')');
	f->nparams = 0;
	while ((p = strstr(p, ".param")) != NULL && (end == NULL || p < end) && f->nparams < MAX_PARAMS) {
		p += 6;
		while (*p == ' ' || *p == '\t') p++;
		int bits = 0;
		if (*p == '.') sscanf(p + 2, "%d", &bits);
		f->size[f->nparams++] = bits / 8;
	}
}

CUresult cuModuleLoadData(void** mod, const void* image) {
	struct fake_module* m = calloc(1, sizeof *m);
	const char* p = image;
	while ((p = strstr(p, ".entry ")) != NULL && m->nfuncs < MAX_FUNCS) {
		p += 7;
		struct fake_func* f = &m->funcs[m->nfuncs++];
		size_t n = strcspn(p, "( \t\n");
		if (n >= sizeof f->name) n = sizeof f->name - 1;
		memcpy(f->name, p, n);
		parse_entry(p + n, f);
	}
	*mod = m;
	return 0;
}

CUresult cuModuleUnload(void* mod) { free(mod); return 0; }

CUresult cuModuleGetFunction(void** fn, void* mod, const char* name) {
	struct fake_module* m = mod;
	for (int i = 0; i < m->nfuncs; i++) {
		if (strcmp(m->funcs[i].name, name) == 0) {
			*fn = &m->funcs[i];
			return 0;
		}
	}
	return 500; // CUDA_ERROR_NOT_FOUND
}

CUresult cuLaunchKernel(void* fn, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shared, void* stream, void** params, void** extra) {
	(void)stream;
	(void)extra;
	struct fake_func* f = fn;
	const char* path = getenv("FAKE_CUDA_LOG");
	if (!path) return 0;
	FILE* out = fopen(path, "a");
	if (!out) return 999;
	fprintf(out, "launch %s grid=%u,%u,%u block=%u,%u,%u shared=%u params=", f->name, gx, gy, gz, bx, by, bz, shared);
	for (int i = 0; i < f->nparams; i++) {
		unsigned long long v = 0;
		memcpy(&v, params[i], (size_t)f->size[i]);
		fprintf(out, "%s%d:%llx", i ? "," : "", f->size[i], v);
	}
	fprintf(out, "\n");
	fclose(out);
	return 0;
}
#endif // FAKE_CUDA_EMU
