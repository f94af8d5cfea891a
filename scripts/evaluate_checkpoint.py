"""Workflow script: score a chunk of a run's checkpoints on every task (and the LM loss) -> one evaluation table."""
from taskladder.base.config import runtime_options
from taskladder.base.log import script
from taskladder.evaluate.checkpoint import evaluate_job

with script(snakemake) as log:
    job = snakemake.params.job
    options = runtime_options("evaluation", job["options"], snakemake.config)
    val = snakemake.input.val  # none for an existing checkpoint (its tokenizer is its own): no LM loss
    evaluate_job(job["checkpoints"], snakemake.input.tasks, val[0] if val else None, options, snakemake.threads,
                 snakemake.output[0])
