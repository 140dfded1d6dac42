recipe bad
score tokens 1="1" 2="2" 3="3" 4="4" 5="5" after "So the overall score is "
rollout n=8 max_response=64
hyper lambda = 1.0, lr = 1e-6
loss -logp
