# GRPO, the REAL paper's baseline: verl core_algos (objectives.md section 2) with the
# "Core RL" settings of REAL's run_real.sh. Binary accuracy reward; advantage
# (r - mean_G r) / (std_G r + 1e-6) with the UNBIASED std (torch.std), and mean 0, std 1
# for a group of one; PPO loss with ratio clip 0.2/0.2 and dual-clip 10; low_var_kl (k3)
# against ref_logp at 0.01; token-mean over all response tokens; AdamW wd 0.1, lr 1e-7.
# Departs from the reference code: the micro-batch scale factor is the trainer's business;
# the entropy term (coefficient 0) is left out.
recipe grpo
score tokens 1="1" 2="2" 3="3" 4="4" 5="5" after "So the overall score is "
rollout n=8 temperature=1.0 top_p=0.9 top_k=-1 max_prompt=2048 max_response=1024
hyper clip_lo = 0.2, clip_hi = 0.2, clip_c = 10.0, kl_coef = 0.01, lr = 1e-7

reward r = acc
adv A = where(count_g() > 1, (r - mean_g(r)) / (std_g(r, unbiased) + 1e-6), r / (1 + 1e-6))

# verl's vanilla policy loss with dual clip.
let ratio = exp(clip(logp - old_logp, -20, 20))
let pg1 = -A * ratio
let pg2 = -A * clip(ratio, 1 - clip_lo, 1 + clip_hi)
let c1 = max(pg1, pg2)
let pg = where(A < 0, min(-A * clip_c, c1), c1)
# low_var_kl (k3) against the reference policy.
let d = clip(ref_logp - logp, -20, 20)
let kl = clip(exp(d) - d - 1, -10, 10)
loss token_mean(pg) + kl_coef * token_mean(kl)
optim adamw lr=lr weight_decay=0.1 clip=1.0 epochs=1 schedule=constant
