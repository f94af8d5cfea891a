"""Workflow script: the n-gram index of every string the evaluated tasks show a model (decontamination)."""
from taskladder.base.log import script
from taskladder.corpus.decontaminate import write_decontamination_index

with script(snakemake):
    write_decontamination_index(snakemake.params.job, snakemake.output[0])
