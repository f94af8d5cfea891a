"""The plan: what a validated config asks the workflow to do, one part per concern, composed by `experiment`
(the `Experiment` the Snakefile builds once): `layout` (every path), `runs` (the runs, targets and groups),
`imports`, `corpus`, `training`, `evaluation`, `fitting` (each stage's jobs: inputs and one canonical `job` param
per rule), `checks` (what the schema cannot check) and `recovery` (after Snakemake itself was killed).

Imports: every stage below it (base, tasks, corpus, train, imports, fit, analyses, report), to name their files and
jobs; it runs none of them and never imports torch.
"""
