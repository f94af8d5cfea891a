"""Workflow script: build one task (a seeded subset of its documents, or corpus_cloze from the held-out
documents) -> results/{experiment}/tasks/{task}.jsonl."""
from taskladder.base.log import script
from taskladder.tasks.documents import save_task
from taskladder.tasks.registry import build_job

with script(snakemake) as log:
    task = build_job(snakemake.wildcards.task, snakemake.params.job)
    save_task(task, snakemake.output[0])
    log.info("%s (%s): %d of %d documents, %d-shot, accuracy by %s", task.name, task.source, len(task.docs),
             task.num_source_docs, task.num_shots, task.metric)
