recipe bad
rollout n=8 temprature=1.0
loss token_mean(-logp)
