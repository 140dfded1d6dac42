// emu_main drives a recipe's kernels (compiled with emu.h) in the order
// runtime/cuda.RunLoss launches them, on a batch read from argv[1], and
// writes vals, err and the bf16 gradients to argv[2]. Build with
// -DPREFIX=<recipe> (the kernels' name prefix) and -DKERNELS='"path/kernels.cu"':
//   g++ -std=c++20 -pthread -include emu.h -DPREFIX=real -DKERNELS='"kernels.cu"' emu_main.cc
#include KERNELS

#include <stdio.h>
#include <stdlib.h>
#include <vector>

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define K_(name) CAT(PREFIX, name)

template <class T>
static std::vector<T> rd(FILE* f, long n) {
	std::vector<T> v(n > 0 ? n : 1);
	if (n > 0 && fread(v.data(), sizeof(T), n, f) != (size_t)n) {
		fprintf(stderr, "short input\n");
		exit(1);
	}
	return v;
}

int main(int argc, char** argv) {
	if (argc != 3) {
		fprintf(stderr, "usage: emu IN OUT\n");
		return 2;
	}
	FILE* in = fopen(argv[1], "rb");
	if (!in) {
		perror(argv[1]);
		return 1;
	}
	std::vector<int> h = rd<int>(in, 7);
	int G = h[0], S = h[1], T = h[2], K = h[3], V = h[4], NH = h[5], NV = h[6];
	std::vector<int> group_off = rd<int>(in, G + 1), seq_group = rd<int>(in, S), tok_off = rd<int>(in, S + 1),
	                 tok_seq = rd<int>(in, T), tokens = rd<int>(in, T), score_tokens = rd<int>(in, K);
	std::vector<double> mask = rd<double>(in, T), cot = rd<double>(in, T), answer = rd<double>(in, T),
	                    old_logp = rd<double>(in, T), ref_logp = rd<double>(in, T), pred = rd<double>(in, S),
	                    acc = rd<double>(in, S), len = rd<double>(in, S), truncated = rd<double>(in, S),
	                    format_ok = rd<double>(in, S), y = rd<double>(in, G), hyper = rd<double>(in, NH);
	std::vector<unsigned short> tok = rd<unsigned short>(in, (long)T * V), score = rd<unsigned short>(in, (long)S * V);
	fclose(in);
	std::vector<double> vals(NV > 0 ? NV : 1, 0.0);
	std::vector<float> score_lse(S + 1), score_z((long)S * K + 1), tok_lse(T + 1), tok_pz(T + 1), tok_z(T + 1);
	std::vector<unsigned short> dtok((long)T * V + 1), dscore((long)S * V + 1);
	int err = 0;
#define CTX vals.data(), hyper.data(), G, S, T, K, group_off.data(), seq_group.data(), tok_off.data(), tok_seq.data(), \
	tokens.data(), score_tokens.data(), mask.data(), cot.data(), answer.data(), old_logp.data(), ref_logp.data(), \
	pred.data(), acc.data(), len.data(), truncated.data(), format_ok.data(), y.data(), score_lse.data(), score_z.data(), \
	tok_lse.data(), tok_pz.data(), tok_z.data(), &err
	long long ld = V;
	const int B = 64; // two warps: the cross-warp reduction runs too
	emu_launch(T, B, [&] { K_(_row_stats)(tok.data(), ld, T, V, 0, 0, CTX); });
	emu_launch(S, B, [&] { K_(_row_stats)(score.data(), ld, S, V, 1, 0, CTX); });
	emu_launch(1, B, [&] { K_(_stage_score)(CTX); });
	emu_launch(1, B, [&] { K_(_stage_rest)(CTX); });
	emu_launch(1, B, [&] { K_(_stage_token)(CTX); });
	emu_launch(T, B, [&] { K_(_token_grad)(tok.data(), dtok.data(), ld, T, V, 0, CTX); });
	emu_launch(S, B, [&] { K_(_score_grad)(score.data(), dscore.data(), ld, S, V, 0, CTX); });
	FILE* out = fopen(argv[2], "wb");
	if (!out) {
		perror(argv[2]);
		return 1;
	}
	fwrite(vals.data(), sizeof(double), NV, out);
	fwrite(&err, sizeof(int), 1, out);
	fwrite(dtok.data(), 2, (size_t)T * V, out);
	fwrite(dscore.data(), 2, (size_t)S * V, out);
	fclose(out);
	return 0;
}
