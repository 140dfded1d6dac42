#!/usr/bin/python3
"""Forward + backward of a Qwen3 in plain PyTorch (eager), timed per step.

The reference for BenchmarkTrainStep (runtime/model/bench_test.go), which runs
it when /usr/bin/python3 imports torch (Debian: apt-get install -y
--no-install-recommends python3-torch) and compares its step time with realc's
on the same shape and batch. The model is written out here, as a user would
write it without transformers: token embedding, per layer RMSNorm, q/k/v
projections, RMSNorm over each head of q and k, RoPE (rotate_half), causal
attention with grouped KV heads, o projection, residual, RMSNorm, SwiGLU MLP,
residual; final RMSNorm, LM head tied to the embedding, cross-entropy.

A step is: zero the gradients, forward, loss, backward (no optimizer, as in
the Go benchmark). For each thread count given (torch.set_num_threads), it
runs --warmup steps, then --steps timed ones, and prints one JSON line:
{"threads": N, "step_s": [...], "params": P}.
"""

import argparse
import json
import math
import time

import torch
import torch.nn.functional as F


class RMSNorm(torch.nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Block(torch.nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = a
        d, hd = a.dim, a.head_dim
        self.attn_norm = RMSNorm(d, a.eps)
        self.wq = torch.nn.Linear(d, a.heads * hd, bias=False)
        self.wk = torch.nn.Linear(d, a.kv_heads * hd, bias=False)
        self.wv = torch.nn.Linear(d, a.kv_heads * hd, bias=False)
        self.wo = torch.nn.Linear(a.heads * hd, d, bias=False)
        self.q_norm = RMSNorm(hd, a.eps)
        self.k_norm = RMSNorm(hd, a.eps)
        self.ffn_norm = RMSNorm(d, a.eps)
        self.gate = torch.nn.Linear(d, a.hidden, bias=False)
        self.up = torch.nn.Linear(d, a.hidden, bias=False)
        self.down = torch.nn.Linear(a.hidden, d, bias=False)

    def forward(self, x, cos, sin, mask):
        a = self.a
        B, T, _ = x.shape
        h = self.attn_norm(x)
        q = self.q_norm(self.wq(h).view(B, T, a.heads, a.head_dim)).transpose(1, 2)
        k = self.k_norm(self.wk(h).view(B, T, a.kv_heads, a.head_dim)).transpose(1, 2)
        v = self.wv(h).view(B, T, a.kv_heads, a.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        g = a.heads // a.kv_heads
        k = k.repeat_interleave(g, dim=1)
        v = v.repeat_interleave(g, dim=1)
        s = (q @ k.transpose(-2, -1)) / math.sqrt(a.head_dim) + mask
        o = (F.softmax(s, dim=-1) @ v).transpose(1, 2).reshape(B, T, a.heads * a.head_dim)
        x = x + self.wo(o)
        h = self.ffn_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Qwen3(torch.nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = a
        self.embed = torch.nn.Embedding(a.vocab, a.dim)
        self.layers = torch.nn.ModuleList(Block(a) for _ in range(a.layers))
        self.norm = RMSNorm(a.dim, a.eps)
        inv = a.rope_theta ** (-torch.arange(0, a.head_dim, 2, dtype=torch.float64) / a.head_dim)
        ang = torch.arange(a.T, dtype=torch.float64)[:, None] * inv[None, :]
        ang = torch.cat((ang, ang), dim=-1)
        self.register_buffer("cos", ang.cos().float(), persistent=False)
        self.register_buffer("sin", ang.sin().float(), persistent=False)
        self.register_buffer("mask", torch.full((a.T, a.T), float("-inf")).triu(1), persistent=False)

    def forward(self, tokens):
        x = self.embed(tokens)
        for layer in self.layers:
            x = layer(x, self.cos, self.sin, self.mask)
        return self.norm(x) @ self.embed.weight.t()  # tied head


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--dim", type=int, default=384)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--layers", type=int, default=8)
    p.add_argument("--heads", type=int, default=6)
    p.add_argument("--kv-heads", dest="kv_heads", type=int, default=2)
    p.add_argument("--head-dim", dest="head_dim", type=int, default=64)
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--rope-theta", dest="rope_theta", type=float, default=1e6)
    p.add_argument("--eps", type=float, default=1e-6)
    p.add_argument("-B", type=int, default=4)
    p.add_argument("-T", type=int, default=128)
    p.add_argument("--threads", default="1,2", help="comma-separated torch.set_num_threads values to time")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--steps", type=int, default=3)
    a = p.parse_args()

    torch.manual_seed(1)
    model = Qwen3(a)
    with torch.no_grad():
        for name, w in model.named_parameters():
            if w.dim() > 1:
                w.normal_(0, 0.02)
    tokens = (torch.arange(a.B * a.T) * 7919 % a.vocab).view(a.B, a.T)
    targets = torch.roll(tokens, -1, dims=1)
    params = sum(w.numel() for w in model.parameters())

    def step():
        model.zero_grad(set_to_none=True)
        logits = model(tokens)
        loss = F.cross_entropy(logits.view(-1, a.vocab), targets.view(-1))
        loss.backward()

    for n in [int(t) for t in a.threads.split(",")]:
        torch.set_num_threads(n)
        for _ in range(a.warmup):
            step()
        times = []
        for _ in range(a.steps):
            t0 = time.perf_counter()
            step()
            times.append(time.perf_counter() - t0)
        print(json.dumps({"threads": n, "step_s": times, "params": params}), flush=True)


if __name__ == "__main__":
    main()
