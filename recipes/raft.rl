# RAFT: regression-aware fine-tuning (objectives.md section 3): the squared error of the
# RAIL predictor yhat = sum_k k p(k) at the score slot (full-vocabulary softmax, no
# renormalization), L = mean (yhat - y)^2. Supervised: the batch holds the reference CoTs,
# teacher-forced, so no rollout line and no advantage.
# Departs from the reference: RAFT's own code was not available; this follows TRACT's
# custom_loss.py reading of it, without TRACT's CE term (see tract.rl).
recipe raft
score tokens 1="1" 2="2" 3="3" 4="4" 5="5" after "So the overall score is "
hyper lr = 1e-5

loss mean((expect(score) - y)^2)
optim adamw lr=lr weight_decay=0.0 clip=1.0 epochs=2 schedule=cosine warmup=0.1
