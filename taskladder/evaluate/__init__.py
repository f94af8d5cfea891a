"""Scoring checkpoints: log-likelihoods of continuations with shared prefixes computed once (`scoring`), the paper's
metrics from them (`metrics`), the evaluation job that turns a checkpoint into metrics rows (`checkpoint`), and the
same scorer behind lm-eval's command line (`lm_eval_model`).

Imports: base, tasks.
"""
