"""Snakemake script: checkpoints (one model load each, all tasks) -> results/{experiment}/evals/{run}/step{step}.csv.

One job may evaluate several checkpoints (`params.checkpoints[i]` -> `output[i]`) so that Python and
torch start once for all of them; the log says how much of the job's wall time start-up took.
"""
import time

import psutil
import torch

from taskladder.evaluate import evaluate_checkpoint
from taskladder.io import setup_logging, write_csv

startup = time.time() - psutil.Process().create_time()  # interpreter start + imports
t0 = time.perf_counter()
log = setup_logging(snakemake.log[0])
options = snakemake.params.evaluation
torch.set_num_threads(snakemake.threads)
for checkpoint, out in zip(snakemake.params.checkpoints, snakemake.output, strict=True):
    frame = evaluate_checkpoint(
        checkpoint, snakemake.input.tasks, val_path=snakemake.input.get("val"),
        overflow=options["overflow"], batch_tokens=options["batch_tokens"], lm_loss_tokens=options["lm_loss_tokens"],
        device=None if options["device"] == "auto" else options["device"])
    write_csv(frame, out)
work = time.perf_counter() - t0
log.info("%d checkpoint(s): start-up %.1fs, evaluation %.1fs (start-up share %.0f%%)", len(snakemake.output),
         startup, work, 100 * startup / (startup + work))
