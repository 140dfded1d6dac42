recipe bad
hyper lr = fast
loss token_mean(-logp)
