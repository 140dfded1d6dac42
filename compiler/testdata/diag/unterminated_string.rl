recipe bad
score tokens 1="1" 2="2 after "x"
loss token_mean(-logp)
