"""Workflow script: an imported table entry (of one group) -> its runs' metrics table."""
from taskladder.base.log import script
from taskladder.imports.sources import import_table

with script(snakemake) as log:
    job = snakemake.params.job
    counts = import_table(job, snakemake.output[0])
    log.info("imported.%s%s: %d runs, %d checkpoints x %d tasks", job["entry"],
             f" (group {job['group']})" if job["group"] else "", counts["runs"], counts["checkpoints"], counts["tasks"])
