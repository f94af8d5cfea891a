"""Workflow script: the n-gram index of the evaluated tasks (taskladder.data.write_decontamination_index)."""
from taskladder.data import write_decontamination_index
from taskladder.io import script

with script(snakemake):
    write_decontamination_index({"corpus": dict(snakemake.params.corpus)}, snakemake.output[0])
