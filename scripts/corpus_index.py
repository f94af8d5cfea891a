"""Workflow script: the n-gram index of the evaluated tasks (taskladder.data.write_decontamination_index)."""
from taskladder.base.log import script
from taskladder.corpus.decontaminate import write_decontamination_index

with script(snakemake):
    write_decontamination_index({"corpus": dict(snakemake.params.corpus)}, snakemake.output[0])
