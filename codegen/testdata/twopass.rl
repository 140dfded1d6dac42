# A test recipe for codegen (not a training recipe): its logp adjoint depends
# on a per-sequence sum of logp, so the fused kernel needs a statistics pass;
# it also reads the entropy and renormalized score readouts. The rollout line makes
# it an RL recipe, so that the trainer tests (traintest) run the two-pass kernels too.
recipe twopass
score tokens 1="1" 2="2" 3="3" 4="4" 5="5" after "So the overall score is "
rollout n=4 temperature=1.0
hyper c = 0.5, w = 0.25

reward r = expect(score, renorm) - y
filter count_g() > 1
adv A = loo(r)

loss mean((sum_t(logp, all) + c)^2) * w + token_mean(-A * logp) - c * token_mean(entropy) + mean(-logprob(score, y, renorm)) + w * mean(prob(score, y, renorm)) + mean(expect(score, renorm)^2)
optim adamw lr=1e-6
