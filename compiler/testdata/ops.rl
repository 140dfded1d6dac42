# Every op and reduction with grad, for the finite-difference tests.
recipe ops
score tokens 1="1" 2="2" 3="3" 4="4" 5="5" after "score: "
rollout n=4 max_response=16
hyper w = 0.5

reward r = acc - 0.5
adv A = r - mean_g(r)
let e = expect(score)
let er = expect(score, renorm)
let s = sum_t(logp, cot)
let m = mean_t(entropy)
let t1 = token_mean(-A * logp) + mean((e - y)^2 * w) + mean(abs(er - y)) + mean(sqrt(prob(score, y) + 0.1))
let t2 = -mean(logprob(score, y, renorm)) + mean(prob(score, 5, renorm)^1.5) + mean(std_g(e, pop)) + mean(loo(s)^2) / 10
let t3 = seq_mean_token_mean(exp(logp) * entropy) + seq_mean_token_sum_norm(min(logp, -1) + max(entropy, 1))
let t4 = seq_mean_token_sum(log(1 + exp(logp))) + token_sum(clip(logp, -2, -0.5)) / 100 + mean(m^2)
let t5 = mean(where(s > -5, s, 2 * s)) / 10 + mean(std_g(s, unbiased)) + mean(e^er) / 10 + mean(mean_g(e) * token_mean(logp))
let t6 = mean(sum_g(e) / count_g()) + token_mean(logprob(score, 3) * logp) + mean(clip(e, 2, 4) * sum_t(2 * e)) + mean(1 / (1 + exp(-s)))
loss t1 + t2 + t3 + t4 + t5 + t6
