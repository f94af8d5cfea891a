"""Workflow script: train one run up to a checkpoint (taskladder.train.train_job; torchrun if train.nproc > 1)."""
from pathlib import Path

from taskladder.base.config import runtime_options
from taskladder.base.log import script
from taskladder.train.launch import train_job

with script(snakemake):
    train_job(snakemake.params.rung, runtime_options("train", snakemake.params.train, snakemake.config),
              Path(snakemake.input.manifest).parent, int(snakemake.wildcards.step), snakemake.output[0],
              snakemake.log[0])
