recipe bad
score tokens "1" "2" after "So the overall score is "
loss token_mean(-logp)
