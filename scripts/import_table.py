"""Workflow script: an imported table entry (of one group) -> its runs' metrics table."""
from taskladder.base.log import script
from taskladder.imports.sources import import_table

with script(snakemake) as log:
    job = snakemake.params.job
    metrics = import_table(job, snakemake.output[0])
    log.info("imported.%s%s: %d runs, %d checkpoints x %d tasks", job["entry"],
             f" (group {job['group']})" if job["group"] else "", metrics["run"].nunique(),
             len(metrics.drop_duplicates(["run", "step"])), metrics["task"].nunique())
