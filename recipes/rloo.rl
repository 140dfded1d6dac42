# RLOO: verl core_algos' RLOO advantage (objectives.md section 2) with verl's vanilla PPO
# policy loss at its defaults (clip 0.2/0.2, dual-clip 3.0, token-mean). Binary accuracy
# reward; A_i = r_i - mean of the others in the group, and A = r for a group of one.
# Departs from the reference code: the micro-batch scale factor is the trainer's business;
# no KL and no entropy term (both off by default in verl).
recipe rloo
score tokens 1="1" 2="2" 3="3" 4="4" 5="5" after "So the overall score is "
rollout n=8 temperature=1.0 top_p=0.9 max_prompt=2048 max_response=1024
hyper clip_lo = 0.2, clip_hi = 0.2, clip_c = 3.0, lr = 1e-6

reward r = acc
adv A = where(count_g() > 1, loo(r), r)

let ratio = exp(clip(logp - old_logp, -20, 20))
let c1 = max(-A * ratio, -A * clip(ratio, 1 - clip_lo, 1 + clip_hi))
loss token_mean(where(A < 0, min(-A * clip_c, c1), c1))
optim adamw lr=lr weight_decay=0.01 clip=1.0 epochs=1
