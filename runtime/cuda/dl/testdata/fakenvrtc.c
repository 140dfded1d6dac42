// A fake NVRTC for tests on machines without the CUDA toolkit. "Compiling"
// writes PTX-like text: a comment with the options, then one .entry per
// `extern "C" __global__ void NAME(...)` of the source with its parameter
// sizes (pointers, long long, double, size_t: 8 bytes; the rest 4), which is
// what runtime/cuda's fake libcuda reads. A source containing #error fails
// with the line in the log.
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct prog {
	char* src;
	char* ptx;
	char* log;
};

int nvrtcVersion(int* major, int* minor) {
	*major = 13;
	*minor = 0;
	return 0;
}

const char* nvrtcGetErrorString(int r) { return r == 6 ? "NVRTC_ERROR_COMPILATION" : "NVRTC_ERROR (fake)"; }

int nvrtcCreateProgram(struct prog** p, const char* src, const char* name, int nh, const char* const* h, const char* const* hn) {
	(void)name;
	(void)h;
	(void)hn;
	if (nh != 0) return 3;
	*p = calloc(1, sizeof **p);
	(*p)->src = strdup(src);
	return 0;
}

int nvrtcDestroyProgram(struct prog** p) {
	free((*p)->src);
	free((*p)->ptx);
	free((*p)->log);
	free(*p);
	*p = NULL;
	return 0;
}

static void append(char** buf, size_t* len, size_t* cap, const char* s, size_t n) {
	if (*len + n + 1 > *cap) {
		*cap = (*len + n + 1) * 2;
		*buf = realloc(*buf, *cap);
	}
	memcpy(*buf + *len, s, n);
	*len += n;
	(*buf)[*len] = 0;
}

static void appends(char** buf, size_t* len, size_t* cap, const char* s) { append(buf, len, cap, s, strlen(s)); }

// param_size: 8 for pointers and 64-bit scalars, else 4.
static int param_size(const char* p, size_t n) {
	char t[256];
	if (n >= sizeof t) n = sizeof t - 1;
	memcpy(t, p, n);
	t[n] = 0;
	if (strchr(t, '*') || strstr(t, "long long") || strstr(t, "double") || strstr(t, "size_t") || strstr(t, "int64_t")) return 8;
	return 4;
}

int nvrtcCompileProgram(struct prog* p, int nopts, const char* const* opts) {
	size_t len = 0, cap = 0;
	char* out = NULL;
	const char* e = strstr(p->src, "#error");
	if (e) {
		const char* end = strchr(e, '\n');
		size_t n = end ? (size_t)(end - e) : strlen(e);
		size_t l2 = 0, c2 = 0;
		appends(&p->log, &l2, &c2, "fake.cu: error: ");
		append(&p->log, &l2, &c2, e, n);
		appends(&p->log, &l2, &c2, "\n");
		return 6;
	}
	appends(&out, &len, &cap, "// fake NVRTC PTX; options:");
	for (int i = 0; i < nopts; i++) {
		appends(&out, &len, &cap, " ");
		appends(&out, &len, &cap, opts[i]);
	}
	appends(&out, &len, &cap, "\n.version 8.0\n.target sm_90\n.address_size 64\n");
	const char* s = p->src;
	while ((s = strstr(s, "__global__")) != NULL) {
		s += 10;
		const char* paren = strchr(s, '(');
		if (!paren) break;
		// __launch_bounds__(...) before the name.
		const char* lb = strstr(s, "__launch_bounds__");
		if (lb && lb < paren) {
			paren = strchr(strchr(lb, ')') + 1, '(');
			if (!paren) break;
		}
		const char* ne = paren;
		while (ne > s && isspace((unsigned char)ne[-1])) ne--;
		const char* nb = ne;
		while (nb > s && (isalnum((unsigned char)nb[-1]) || nb[-1] == '_')) nb--;
		appends(&out, &len, &cap, ".visible .entry ");
		append(&out, &len, &cap, nb, (size_t)(ne - nb));
		appends(&out, &len, &cap, "(\n");
		const char* q = paren + 1;
		const char* close = strchr(q, ')');
		int idx = 0;
		while (q < close) {
			const char* comma = memchr(q, ',', (size_t)(close - q));
			const char* pe = comma ? comma : close;
			int only_space = 1;
			for (const char* c = q; c < pe; c++) only_space &= isspace((unsigned char)*c) != 0;
			if (!only_space && !(pe - q == 4 && strncmp(q, "void", 4) == 0)) {
				char line[128];
				snprintf(line, sizeof line, "%s\t.param .u%d p%d", idx ? ",\n" : "", 8 * param_size(q, (size_t)(pe - q)), idx);
				appends(&out, &len, &cap, line);
				idx++;
			}
			q = pe + 1;
		}
		appends(&out, &len, &cap, "\n)\n{\n\tret;\n}\n");
		s = close;
	}
	p->ptx = out;
	size_t l2 = 0, c2 = 0;
	appends(&p->log, &l2, &c2, "");
	return 0;
}

int nvrtcGetPTXSize(struct prog* p, size_t* n) {
	if (!p->ptx) return 7;
	*n = strlen(p->ptx) + 1;
	return 0;
}
int nvrtcGetPTX(struct prog* p, char* out) {
	if (!p->ptx) return 7;
	strcpy(out, p->ptx);
	return 0;
}
int nvrtcGetProgramLogSize(struct prog* p, size_t* n) {
	*n = p->log ? strlen(p->log) + 1 : 1;
	return 0;
}
int nvrtcGetProgramLog(struct prog* p, char* out) {
	strcpy(out, p->log ? p->log : "");
	return 0;
}
