"""Workflow script: one run log (an OLMo-ladder CSV) -> the run's metrics table."""
from taskladder.base.files import write_csv
from taskladder.base.log import script
from taskladder.imports.entry import KNOWN_TASKS
from taskladder.imports.tables import IMPORTERS

with script(snakemake) as log:
    job = snakemake.params.job
    metrics = IMPORTERS[job["format"]](snakemake.input[0], run=snakemake.wildcards.run, n=job["n"], tasks=KNOWN_TASKS)
    write_csv(metrics, snakemake.output[0])
    log.info("%s: %d checkpoints x %d tasks from %s", snakemake.wildcards.run, metrics["step"].nunique(),
             metrics["task"].nunique(), snakemake.input[0])
