// nvrtc_check compiles CUDA sources with NVRTC, the runtime compiler a
// realc binary can use on a GPU machine, without any include path: it proves
// generated kernels are header-free. NVRTC is dlopen'ed (libnvrtc.so.13,
// .12, .11.2), so this builds with gcc alone.
//   usage: nvrtc_check ARCH FILE.cu...   (ARCH e.g. compute_80)
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

typedef int nvrtcResult;
typedef void* nvrtcProgram;

int main(int argc, char** argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: nvrtc_check ARCH FILE.cu...\n");
		return 2;
	}
	const char* libs[] = {"libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so.11.2", "libnvrtc.so"};
	void* h = NULL;
	for (int i = 0; i < 4 && !h; i++) h = dlopen(libs[i], RTLD_NOW);
	if (!h) {
		fprintf(stderr, "library not found: tried libnvrtc.so.13, .12, .11.2, libnvrtc.so\n");
		return 3;
	}
	nvrtcResult (*create)(nvrtcProgram*, const char*, const char*, int, const char* const*, const char* const*) = dlsym(h, "nvrtcCreateProgram");
	nvrtcResult (*compile)(nvrtcProgram, int, const char* const*) = dlsym(h, "nvrtcCompileProgram");
	nvrtcResult (*logSize)(nvrtcProgram, size_t*) = dlsym(h, "nvrtcGetProgramLogSize");
	nvrtcResult (*getLog)(nvrtcProgram, char*) = dlsym(h, "nvrtcGetProgramLog");
	nvrtcResult (*destroy)(nvrtcProgram*) = dlsym(h, "nvrtcDestroyProgram");
	if (!create || !compile || !logSize || !getLog || !destroy) {
		fprintf(stderr, "libnvrtc lacks an entry point\n");
		return 3;
	}
	char arch[64];
	snprintf(arch, sizeof arch, "--gpu-architecture=%s", argv[1]);
	int failed = 0;
	for (int f = 2; f < argc; f++) {
		FILE* in = fopen(argv[f], "rb");
		if (!in) {
			perror(argv[f]);
			return 1;
		}
		fseek(in, 0, SEEK_END);
		long n = ftell(in);
		fseek(in, 0, SEEK_SET);
		char* src = malloc((size_t)n + 1);
		if (fread(src, 1, (size_t)n, in) != (size_t)n) {
			perror(argv[f]);
			return 1;
		}
		src[n] = 0;
		fclose(in);
		nvrtcProgram prog;
		if (create(&prog, src, argv[f], 0, NULL, NULL) != 0) {
			fprintf(stderr, "%s: nvrtcCreateProgram failed\n", argv[f]);
			return 1;
		}
		const char* opts[] = {arch};
		nvrtcResult r = compile(prog, 1, opts);
		size_t ls = 0;
		logSize(prog, &ls);
		char* log = malloc(ls + 1);
		getLog(prog, log);
		log[ls] = 0;
		if (r != 0) {
			fprintf(stderr, "%s: NVRTC (%s) failed:\n%s\n", argv[f], argv[1], log);
			failed = 1;
		} else if (ls > 1) {
			fprintf(stderr, "%s: NVRTC (%s) warnings:\n%s\n", argv[f], argv[1], log);
			failed = 1;
		}
		free(log);
		free(src);
		destroy(&prog);
	}
	return failed;
}
