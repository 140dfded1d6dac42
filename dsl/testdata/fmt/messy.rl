# A recipe written carelessly: the formatter makes it canonical.
recipe   messy   # trailing comment
score tokens 1 = "1"   2="2" after   "is "
rollout n =4 temperature= 1.0


hyper a=1.0 ,b = -2
let x = ((a + (b)) * ((-y)) ^ 2)
let z = a - (b - a) - a / (b / a) / a
let w = -x^2 + (-x)^2 + 2^-1 + 2^(3^2) + (2^3)^2
reward r = (acc)
filter (0 < mean_g(acc)) && (mean_g(acc) < 1) || !(y >= 3)
loss token_mean(-r * logp   , cot) + a * mean(( expect(score) -
    # inside the parentheses
    y ) ^ 2)
optim adamw lr = 1e-6 schedule =cosine
# the end
