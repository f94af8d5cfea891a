"""Workflow script: one imported ladder log -> results/{experiment}/metrics/{run}.csv."""
from taskladder.base.files import write_csv
from taskladder.base.log import script
from taskladder.imports.entry import KNOWN_TASKS
from taskladder.imports.tables import IMPORTERS

with script(snakemake) as log:
    read = IMPORTERS[snakemake.params.format]
    metrics = read(snakemake.input[0], run=snakemake.wildcards.run, n=snakemake.params.n, tasks=KNOWN_TASKS)
    write_csv(metrics, snakemake.output[0])
    log.info("%s: %d checkpoints x %d tasks from %s", snakemake.wildcards.run, metrics["step"].nunique(),
             metrics["task"].nunique(), snakemake.input[0])
