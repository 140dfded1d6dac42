loss token_mean(-logp)
