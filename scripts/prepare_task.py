"""Snakemake script: one task's documents (seeded subset, k shots) -> results/{experiment}/tasks/{task}.jsonl."""
from taskladder.io import setup_logging
from taskladder.tasks import build, save_task

log = setup_logging(snakemake.log[0])
task = build(snakemake.wildcards.task, snakemake.params.spec, snakemake.params.evaluation, snakemake.params.seed)
save_task(task, snakemake.output[0])
log.info("%s (%s): %d of %d documents, %d-shot, accuracy by %s", task.name, task.source, len(task.docs),
         task.num_source_docs, task.num_shots, task.metric)
