"""Snakemake script: apply train.keep_checkpoints to a run whose checkpoints are all evaluated."""
from pathlib import Path

from taskladder.io import setup_logging, write_text
from taskladder.train import release_checkpoints

log = setup_logging(snakemake.log[0])
out = Path(snakemake.output[0])
deleted = release_checkpoints(out.parent, snakemake.config["train"]["keep_checkpoints"])
log.info("%s: deleted the checkpoints of steps %s", snakemake.wildcards.run, deleted)
write_text("".join(f"step{s:07d}\n" for s in deleted), out)
