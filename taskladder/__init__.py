"""taskladder: predict a large language model's task accuracy from a ladder of small models (Bhagia et al. 2024).

The package is laid out by the workflow's stages. Each subpackage imports only those listed before it (and not all
of them: each one's docstring says which), so reading from the bottom up never meets a name not yet explained:

    base        the contracts every stage shares: config, metrics table, names, job params, atomic files, logging
    tasks       the multiple-choice tasks as documents (OLMES, lm-eval, corpus_cloze)
    corpus      the training corpus: inputs, decontamination, tokenizer, token shards
    train       the ladder's rungs, the model, the training loop, checkpoints
    evaluate    scoring checkpoints on the tasks -> metrics tables
    imports     metrics tables from results logged elsewhere, and existing checkpoints
    fit         the laws, the solver, the points, the methods, intervals, backtests, the ensemble
    analyses    the paper's analyses, the summary tables, the group comparison
    synthetic   ladders drawn from known laws, in every shape the importers read (examples, tests)
    report      figures and the report's first page
    planner     (to come) choosing a ladder for a compute budget
    workflow    the plan: what a config asks for, each rule's job and where every file goes
    cli         the `taskladder` command

    corpus -> train -> evaluate --+
                         imports -+-> metrics tables -> fit -> analyses -> report
                                   (workflow plans every stage; cli and scripts/ call the stages)

The plan (workflow), the importers and the fitting never import torch; everything here is testable without
Snakemake, which only runs the jobs the plan describes (rules/*.smk, scripts/*.py).
"""
