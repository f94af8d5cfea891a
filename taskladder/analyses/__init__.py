"""Analyses of the metrics and the fits: the paper's (variance, compute against error: `paper`), the experiment's
summary tables (`summary`) and the comparison of groups (data recipes: `groups`). A new analysis: a function here,
its figure in report, its rule in rules/analyses.smk and its outputs in workflow/fitting.py.

Imports: base, fit.
"""
