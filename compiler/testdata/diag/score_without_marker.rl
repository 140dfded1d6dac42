recipe bad
score tokens 1="1" 2="2"
loss mean(expect(score))
