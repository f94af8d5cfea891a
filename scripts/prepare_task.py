"""Workflow script: one task's documents (seeded subset, k shots; corpus_cloze: from the corpus's held-out
documents) -> results/{experiment}/tasks/{task}.jsonl."""
from taskladder.base.log import script
from taskladder.tasks.documents import save_task
from taskladder.tasks.registry import build

with script(snakemake) as log:
    p = snakemake.params
    task = build(snakemake.wildcards.task, p.spec, p.evaluation, p.seed, p.corpus)
    save_task(task, snakemake.output[0])
    log.info("%s (%s): %d of %d documents, %d-shot, accuracy by %s", task.name, task.source, len(task.docs),
             task.num_source_docs, task.num_shots, task.metric)
