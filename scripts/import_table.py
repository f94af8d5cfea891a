"""Workflow script: an imported table (one of its groups) -> its runs' metrics table (taskladder.sources)."""
from taskladder.base.log import script
from taskladder.imports.sources import import_table

with script(snakemake) as log:
    entry, group = snakemake.wildcards.entry, snakemake.wildcards.get("group")
    metrics = import_table(snakemake.config, entry, group, snakemake.output[0])
    log.info("imported.%s%s: %d runs, %d checkpoints x %d tasks", entry, f" (group {group})" if group else "",
             metrics["run"].nunique(), len(metrics.drop_duplicates(["run", "step"])), metrics["task"].nunique())
