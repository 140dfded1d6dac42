recipe bad
score tokens 1="1" 2="2" 3="3" 4="4" 5="5" after "So the overall score is "
rollout n=8 max_response=64
hyper lr = 1e-6
filter !(mean_g(expect(score)) > 3 && 1)
adv A = (mean_t(entropy) > 0.5) - 0.5
loss token_mean(-A * logp)
