"""Workflow script: apply train.keep_checkpoints to a run whose checkpoints are all evaluated."""
from pathlib import Path

from taskladder.base.files import checkpoint_dir, write_text
from taskladder.base.log import script
from taskladder.train.checkpoints import release_checkpoints

with script(snakemake) as log:
    run_dir = Path(snakemake.output[0]).parent
    deleted = release_checkpoints(run_dir, snakemake.config["train"]["keep_checkpoints"])
    log.info("%s: deleted the checkpoints of steps %s", snakemake.wildcards.run, deleted)
    write_text("".join(f"{checkpoint_dir(run_dir, s).name}\n" for s in deleted), snakemake.output[0])
