# SFT: plain cross-entropy on the gold output (the CoT and the score), as REAL's own
# warm-up (bash_real/sft.sh: verl's fsdp_sft_trainer, lr 1e-5, 3 epochs; objectives.md 3).
# Token-mean over every token of the gold output, the score token and EOS included.
recipe sft
score tokens 1="1" 2="2" 3="3" 4="4" 5="5" after "So the overall score is "
hyper lr = 1e-5

loss token_mean(-logp)
optim adamw lr=lr weight_decay=0.0 clip=1.0 epochs=3 schedule=cosine warmup=0.1
