"""A big imported table from known laws: many runs of many checkpoints each, one row per checkpoint, one column
per task and metric, and columns no config maps (free text, W&B bookkeeping), as a sweep's logs come.

    python bench/big_table.py OUT_DIR [--runs 2000] [--checkpoints 500] [--format csv|parquet|tsv|jsonl]

Writes OUT_DIR/big.<format> (2,016 runs x 500 checkpoints = 1,008,000 rows by default, 201 MB as CSV) and
OUT_DIR/config.yaml, a workflow config that imports it (`taskladder check --configfile OUT_DIR/config.yaml`,
`snakemake -n --configfile OUT_DIR/config.yaml`). The rows are `taskladder.synthetic.ladders.ladder_truth`'s
(sizes x data multiples x seeds x groups), written chunk by chunk in the shape `ENTRY` reads
(`taskladder.synthetic.shapes.table_for`), so memory stays bounded whatever the size.
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from taskladder.synthetic.ladders import LADDER_TASKS, ladder_truth
from taskladder.synthetic.shapes import table_for
from taskladder.synthetic.truth import GROUPS, MULTIPLES, SIZES, TARGET

ENTRY = {
    "columns": {"run": "model", "n": "params", "step": "step", "tokens": "tokens", "seed": "seed", "group": "recipe"},
    "metrics": {"acc": "{task}_acc", "task_loss": "{task}_bpb", "lm_loss": "c4_loss"},
    "units": {"acc": "percent", "n": 1e6},
    "tasks": list(LADDER_TASKS),
}
SUFFIXES = {"csv": ".csv", "tsv": ".tsv", "parquet": ".parquet", "jsonl": ".jsonl"}
WORDS = np.array(["warmup", "restart", "node-7", "fp8", "lr x0.5", "eval skipped", "ok", "resumed; see log", ""])


def _chunk(seeds: range, groups: list[str], checkpoints: int, seed: int):
    """The table rows of the runs of `seeds` (every size, multiple and group), with the unmapped columns."""
    truth = ladder_truth(LADDER_TASKS, checkpoints=checkpoints, seeds=list(seeds), groups=groups, seed=seed,
                         batch_tokens=1024 * 1024)
    table = table_for(truth, {"file": "big.csv", **ENTRY})
    rng = np.random.default_rng(seed)
    table.insert(1, "_runtime", np.round(rng.uniform(10, 1e5, len(table)), 1))
    table.insert(2, "_timestamp", np.round(1.7e9 + rng.uniform(0, 1e7, len(table)), 3))
    table.insert(3, "host", rng.choice(["gpu-a17", "gpu-b03", "gpu-c11"], len(table)))
    table.insert(4, "train/loss", rng.uniform(2, 4, len(table)))
    table["notes"] = rng.choice(WORDS, len(table))  # an unmapped column of free text
    return table


def write_big_table(out_dir: str | Path, runs: int = 2000, checkpoints: int = 500, fmt: str = "csv",
                    groups: tuple[str, ...] = tuple(GROUPS), seed: int = 0) -> Path:
    """Write the table (atomically) and return its path; about `runs` runs (a whole number of seeds per size,
    multiple and group) of `checkpoints` checkpoints (fewer where a run has fewer steps)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"big{SUFFIXES[fmt]}"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    per_seed = len(SIZES) * len(MULTIPLES) * len(groups)
    seeds, step = math.ceil(runs / per_seed), 8
    writer = None
    try:
        for k, first in enumerate(range(0, seeds, step)):
            table = _chunk(range(first, min(first + step, seeds)), list(groups), checkpoints, seed + k)
            if fmt == "parquet":
                batch = pa.Table.from_pandas(table, preserve_index=False)
                writer = writer or pq.ParquetWriter(tmp, batch.schema)
                writer.write_table(batch)
            elif fmt == "jsonl":
                with open(tmp, "a") as f:
                    table.to_json(f, orient="records", lines=True, double_precision=10)
            else:
                table.to_csv(tmp, mode="a", header=k == 0, index=False, sep="," if fmt == "csv" else "\t",
                             float_format="%.7g")
        if writer:
            writer.close()
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_config(table: Path, out: Path) -> Path:
    """A workflow config that imports the table (the ladder: every run) and predicts the paper's 7B target."""
    name, n, d = TARGET
    config = {"experiment": "big-table", "imported": {"big": {"file": str(table.resolve()), **ENTRY}},
              "targets": {name: {"n": n, "d": d}}, "fit": {"tasks": list(LADDER_TASKS)}, "methods": {"two_step": {}}}
    out.write_text(yaml.safe_dump(config, sort_keys=False))
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--checkpoints", type=int, default=500)
    parser.add_argument("--format", choices=list(SUFFIXES), default="csv")
    args = parser.parse_args(argv)
    path = write_big_table(args.out_dir, args.runs, args.checkpoints, args.format)
    config = write_config(path, args.out_dir / "config.yaml")
    print(f"{path}: {path.stat().st_size / 1e6:.0f} MB; {config}")


if __name__ == "__main__":
    main()
