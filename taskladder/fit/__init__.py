"""Fitting the task scaling laws: the laws (`laws`), one deterministic solver (`solver`), the points each step sees
(`smoothing`, `points`), both steps chained at a target (`chain`), a method end to end (`methods`), prediction
intervals (`intervals`), backtests (`backtest`), the ensemble (`ensemble`) and the flags (`predictability`). A new
method is data (base/methods.yaml or the config's `methods`); a new law goes in `laws`.

Imports: base. Never torch.
"""
