recipe bad
score tokens 1="1" 2="2" 2="3" after "is "
loss mean(expect(score))
