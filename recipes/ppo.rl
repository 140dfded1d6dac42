# PPO: verl's vanilla PPO policy loss (objectives.md section 2: ratio clip 0.2/0.2,
# dual-clip 3.0, token-mean) with an entropy bonus (coefficient ent_coef, 0 by default)
# and a GAE advantage at gamma = lam = 1, whitened over the batch's tokens as verl's
# masked_whiten does (masked mean, unbiased masked variance, rsqrt(var + 1e-8)).
# Departs from the reference code: realc has no critic yet, so V = 0 and GAE reduces to
# A_t = r (the outcome reward) at every token before whitening; the micro-batch scale
# factor is the trainer's business.
recipe ppo
score tokens 1="1" 2="2" 3="3" 4="4" 5="5" after "So the overall score is "
rollout n=8 temperature=1.0 top_p=0.9 max_prompt=2048 max_response=1024
hyper clip_lo = 0.2, clip_hi = 0.2, clip_c = 3.0, ent_coef = 0.0, lr = 1e-6

reward r = acc

let n_tok = token_sum(1)
let mu = token_mean(r)
let var = token_mean((r - mu)^2) * n_tok / (n_tok - 1)
adv A = (r - mu) / sqrt(var + 1e-8)

let ratio = exp(clip(logp - old_logp, -20, 20))
let c1 = max(-A * ratio, -A * clip(ratio, 1 - clip_lo, 1 + clip_hi))
loss token_mean(where(A < 0, min(-A * clip_c, c1), c1)) - ent_coef * token_mean(entropy)
optim adamw lr=lr weight_decay=0.01 clip=1.0 epochs=1
