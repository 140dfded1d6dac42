recipe bad
reward r = -(expect(score) - y)^2
loss mean(expect(score))
