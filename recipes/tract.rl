# TRACT's CoT-RAFT loss (d223302/TRACT custom_loss.py, compute_raft_loss; objectives.md
# section 3): cross-entropy on every response token except the score token, plus 1.0 times
# the squared error of yhat = sum_k k p(k) read from the logits that predict the score token
# (full-vocabulary softmax). Config cot_raft_mistral.yaml: lr 1e-5, 2 epochs, cosine, warmup 0.1.
# Departs from the reference code: the score loss is the mean over sequences; the reference
# divides that mean once more by the number of sequences (an author TODO, objectives.md 3).
recipe tract
score tokens 1="1" 2="2" 3="3" 4="4" 5="5" after "So the overall score is "
hyper mse_weight = 1.0, lr = 1e-5

loss token_mean(-logp, all - answer) + mse_weight * mean((expect(score) - y)^2)
optim adamw lr=lr weight_decay=0.0 clip=1.0 epochs=2 schedule=cosine warmup=0.1
