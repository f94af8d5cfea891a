"""Workflow script: train one run of the ladder up to checkpoint `step` (resuming from the newest complete one)."""
from pathlib import Path

from taskladder.base.config import runtime_options
from taskladder.base.log import script
from taskladder.train.launch import train_job

with script(snakemake):
    job = snakemake.params.job
    train_job(job["rung"], runtime_options("train", job["options"], snakemake.config),
              Path(snakemake.input.manifest).parent, int(snakemake.wildcards.step), snakemake.output[0],
              snakemake.log[0])
