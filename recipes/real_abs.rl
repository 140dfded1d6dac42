# REAL with an absolute-error reward: a variant that exists nowhere else, to show that a
# new reward is a recipe and not Go. As real.rl (objectives.md 1.4-1.6), but the regression
# reward is -|E - y| (the loss RAIL's median predictor is optimal for) and the
# prediction-refinement term is beta * mean |E - y|. Departs from the reference as real.rl.
recipe real_abs
score tokens 1="1" 2="2" 3="3" 4="4" 5="5" after "So the overall score is "
rollout n=8 temperature=1.0 top_p=0.9 top_k=-1 max_prompt=2048 max_response=1024
hyper lambda = 1.0, beta = 0.0, lr = 5e-8

reward reg = -abs(expect(score) - y)
reward prob_y = prob(score, y)
filter 0 < mean_g(acc) < 1

let a_reg = loo(reg)
let a_prob = loo(prob_y)
adv A = clip(a_reg / (std_g(a_reg, pop) + 1e-8), -1, 1) + lambda * clip(a_prob / (std_g(a_prob, pop) + 1e-8), -1, 1)

loss token_mean(where(cot, -A * logp, 0)) + beta * mean(abs(expect(score) - y)) + beta * lambda * mean(-logprob(score, y))
optim adamw lr=lr weight_decay=0.01 clip=1.0 epochs=3 buffer=256 mini_batch=128 schedule=constant
