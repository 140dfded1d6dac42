recipe bad
score tokens 1="1" 2="2" 3="3" 4="4" 5="5" after "So the overall score is "
rollout n=8 max_response=64
hyper lr = 1e-6
filter 0 < mean_g(mean_t(logp)) < 1
adv A = acc - mean_g(acc)
loss token_mean(-A * logp)
