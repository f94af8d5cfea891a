"""Workflow script: every method's tables -> predictions.csv (with flags), fits.csv and the analyses' tables."""
from taskladder.io import script
from taskladder.tables import write_summary

with script(snakemake):
    p = snakemake.params
    write_summary(dict(snakemake.input.items()), dict(snakemake.output.items()), p.methods, p.tasks, p.options,
                  p.flags, p.get("groups"))
