"""Workflow script: fit one method on the ladder metrics (of one group) and predict every target."""
from taskladder.analyses.groups import tag
from taskladder.base.log import script
from taskladder.fit.methods import fit_and_write

with script(snakemake):
    fit_and_write(
        method_name=snakemake.wildcards.method,
        method=snakemake.params.method,
        ladder_files=list(snakemake.input.ladder),
        target_files=list(snakemake.input.targets),
        other_files=list(snakemake.input.others),
        targets=snakemake.params.targets,
        tasks=snakemake.params.tasks,
        options=snakemake.params.options,
        out=snakemake.output,
    )
    if snakemake.wildcards.get("group"):
        tag(snakemake.output, snakemake.wildcards.group)
