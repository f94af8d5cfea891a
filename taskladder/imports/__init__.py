"""Runs that are not trained here: results logged elsewhere read into metrics tables (`entry` checks a config
entry, `files` reads a table file, `tables` maps it to the metrics table, `lm_eval_dirs` reads lm-eval output), and
where runs come from when the plan is made, existing checkpoints included (`sources`). A new importer: a preset in
`entry`, or a reader next to `tables`.

Imports: base, tasks, evaluate (`evaluate.metrics`, for task loss from lm-eval's samples). Never torch.
"""
