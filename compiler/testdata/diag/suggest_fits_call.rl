recipe bad
score tokens 1="1" 2="2" 3="3" 4="4" 5="5" after "So the overall score is "
reward reg = -(expect(score) - y)^2
let a = lo0(reg)
let b = sum(logp, cot)
let c = sum(reg)
adv A = a + mean_t(b) + c
loss token_mean(-A * logp)
