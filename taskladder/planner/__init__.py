"""Choosing a ladder before training it: candidate ladders for a target and a compute budget (`candidates`), the
reference ladder whose laws and noise they are simulated with (`reference`), their expected error and interval
width at the target (`expected`), the plan, its table, figure and recommended config (`plan`), and its validation
on released ladders (`validate`). `taskladder plan` and the workflow's `plan` rule call `plan.make_plan`.

Imports: anything below workflow (fit, synthetic, train.ladder, base); never torch.
"""
