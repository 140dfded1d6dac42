recipe bad
rollout n=2.5 top_p=1.5
loss token_mean(-logp)
