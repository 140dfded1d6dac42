recipe bad
score tokens 1="1" 2="2" 3="3" 4="4" 5="5" after "So the overall score is "
rollout n=8 max_response=64
hyper beta = 0.0, lr = 5e-8
reward reg = -(expect(score) - y)^2
adv A = loo(reg) * lambda
loss token_mean(-A * logp) + beta * mean(-logprob(score, y))
optim adamw lr=step clip=1.0
