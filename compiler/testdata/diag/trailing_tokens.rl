recipe bad extra
loss token_mean(-logp)
