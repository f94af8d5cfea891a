"""(To come) Choosing a ladder: the candidate ladders for a target and a compute budget, with the error and interval
width each is expected to give (`taskladder plan`).

Imports: anything below workflow.
"""
