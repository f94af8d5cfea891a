"""Workflow script: every method's tables -> predictions.csv (with flags), fits.csv and the analyses' tables."""
from taskladder.analyses.summary import write_summary
from taskladder.base.log import script

with script(snakemake):
    p = snakemake.params
    write_summary(dict(snakemake.input.items()), dict(snakemake.output.items()), p.methods, p.tasks, p.options,
                  p.flags, p.get("groups"))
