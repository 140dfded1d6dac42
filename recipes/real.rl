# REAL: regression-aware RL for LLM judges, as YasminZhang/REAL @ fb695fd1 computes it
# (objectives.md 1.4-1.6). Two rewards read at the score slot of [prompt; cot; y]:
# -(E - y)^2 and p(y). Each gets leave-one-out, population-std normalization (eps 1e-8)
# and clipping to [-1, 1]; A = A_reg + lambda * A_prob. The loss is REINFORCE ("gpg")
# on the CoT tokens, token-mean over CoT + answer slot, plus the prediction-refinement
# term beta * [mean (E - y)^2 + lambda * mean(-log p(y))]. Only "partial" groups train.
# lambda is the reference's real_beta_supp, beta its real_beta_supp_extra.
# Departs from the reference code:
# - correct token alignment: logp[t] comes from the logits that predicted token t (the
#   reference shifts the CoT log-probs by one position, objectives.md 1.7);
# - the micro-batch scale factor B_micro / mini_bs is the trainer's business, not the loss's;
# - the entropy and KL terms (coefficient 0 in every reference script) are left out.
recipe real
score tokens 1="1" 2="2" 3="3" 4="4" 5="5" after "So the overall score is "
rollout n=8 temperature=1.0 top_p=0.9 top_k=-1 max_prompt=2048 max_response=1024
hyper lambda = 1.0, beta = 0.0, lr = 5e-8

reward reg = -(expect(score) - y)^2
reward prob_y = prob(score, y)
filter 0 < mean_g(acc) < 1

let a_reg = loo(reg)
let a_prob = loo(prob_y)
adv A = clip(a_reg / (std_g(a_reg, pop) + 1e-8), -1, 1) + lambda * clip(a_prob / (std_g(a_prob, pop) + 1e-8), -1, 1)

# A on the CoT tokens, 0 on the answer slot, which still counts in the denominator.
loss token_mean(where(cot, -A * logp, 0)) + beta * mean((expect(score) - y)^2) + beta * lambda * mean(-logprob(score, y))
optim adamw lr=lr weight_decay=0.01 beta1=0.9 beta2=0.999 clip=1.0 epochs=3 buffer=256 mini_batch=128 schedule=constant warmup=0
