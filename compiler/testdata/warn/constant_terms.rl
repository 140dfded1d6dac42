recipe constant_terms
score tokens 1="1" 2="2" 3="3" 4="4" 5="5" after "So the overall score is "
rollout n=8 max_response=64
hyper beta = 0.1, lr = 1e-6
reward reg = -(expect(score) - y)^2
adv A = loo(reg)
# Rewards carry no grad: mean(-reg) is a constant. So are a stopgrad'd
# entropy and a number; beta * mean(expect(score)) is not.
loss token_mean(-A * logp) + mean(-reg) - (0.01 * mean(stopgrad(mean_t(entropy))) + 1) + beta * mean(expect(score))
