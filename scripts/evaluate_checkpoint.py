"""Workflow script: a chunk of checkpoints of a run (one model load each, all tasks) -> one evaluation table."""
import pandas as pd
import torch

from taskladder.base.config import runtime_options
from taskladder.base.files import write_csv
from taskladder.base.log import script
from taskladder.evaluate.checkpoint import evaluate_checkpoint

with script(snakemake) as log:
    options = runtime_options("evaluation", snakemake.params.evaluation, snakemake.config)
    torch.set_num_threads(snakemake.threads)
    frames = []
    val = snakemake.input.val  # none for an existing checkpoint (its tokenizer is its own): no LM loss
    for checkpoint in snakemake.params.checkpoints:
        frames.append(evaluate_checkpoint(
            checkpoint, snakemake.input.tasks, val_path=val[0] if val else None, overflow=options["overflow"],
            batch_tokens=options["batch_tokens"], lm_loss_tokens=options["lm_loss_tokens"],
            device=None if options["device"] == "auto" else options["device"]))
        log.info("%s: evaluated", checkpoint)
    write_csv(pd.concat(frames, ignore_index=True), snakemake.output[0])
