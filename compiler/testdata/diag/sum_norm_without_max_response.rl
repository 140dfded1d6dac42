recipe bad
loss seq_mean_token_sum_norm(-logp)
