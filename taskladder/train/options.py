"""The training options a job runs with: the `train` config keys (and the seed) as one typed object."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass
class TrainOptions:
    """How a run trains; the defaults are for calling the library by hand (the workflow's come from the schema)."""

    seed: int = 0
    threads: int | None = 1
    device: str = "auto"
    precision: str = "fp32"
    fsdp: bool = False
    micro_batch: int | None = None
    attn_implementation: str = "auto"
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = 1e-8
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    final_lr_ratio: float = 0.1
    init_std: float = 0.02
    log_every: int = 10
    progress: bool = True
    keep_checkpoints: str = "all"

    @classmethod
    def from_dict(cls, options: dict) -> "TrainOptions":
        """From the `train` config keys (and `seed`); keys that are not options (job, nproc) are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        options = {k: v for k, v in options.items() if k in names}
        if "betas" in options:
            options["betas"] = tuple(options["betas"])
        return cls(**options)

    @classmethod
    def from_config(cls, config: dict, **overrides) -> "TrainOptions":
        return cls.from_dict({**(config.get("train") or {}), "seed": config.get("seed", 0), **overrides})


KEEP_CHECKPOINTS = ("all", "weights", "final")  # train.keep_checkpoints (taskladder.train.checkpoints)
