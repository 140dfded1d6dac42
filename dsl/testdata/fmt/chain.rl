recipe chain
filter 0 < mean_g(acc) <= 1 != 0
adv A = (1 < 2) < 3
loss token_mean(-A*logp)
