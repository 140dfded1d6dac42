recipe bad
score tokens 1="1" 2="2" 3="3" 4="4" 5="5" after "So the overall score is "
reward reg = -(expect(score) - y)^2
adv A = loo(reg)
loss token_mean(-A * logp) + gamma * mean(-logprob(score, y))
