"""A synthetic ladder in every shape the importers read: tables (CSV, TSV, parquet, JSONL; wide or long, any
units and column names) and lm-eval output directories."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from taskladder.base.files import atomic_path
from taskladder.imports.entry import PRESETS, check_entry, loss_factor


def _to_unit(values: np.ndarray, metric: str, spec: dict) -> np.ndarray:
    """Contract-unit values in the unit an entry declares (the inverse of the importer's conversion)."""
    unit = spec["units"][metric]
    if unit == "percent":
        return values * 100
    if unit == "log_prob":
        return -values
    if unit == "fraction":
        return values
    return values / loss_factor(metric, unit, spec["units"].get("bytes_per_token"))


def table_for(truth: pd.DataFrame, entry: dict) -> pd.DataFrame:
    """The table that the `imported` entry `entry` reads as `truth` (a long metrics table): one row per checkpoint
    (per final checkpoint where the entry has no step column), one column per task and metric, or one row per
    checkpoint and task where the entry has columns.task; names, templates, overrides and units as it declares."""
    spec = check_entry("synthetic", entry)
    cols, units = spec["columns"], spec["units"]
    if not cols["step"]:
        truth = truth[truth["step"] == truth.groupby("run")["step"].transform("max")]
    keys = {cols["run"]: truth["run"], cols["n"]: truth["n"] / units["n"], cols["step"]: truth["step"],
            cols["tokens"]: truth["tokens"] / units["tokens"], cols["flops"]: truth["flops"] / units["flops"],
            cols["seed"]: truth.get("seed"), cols["group"]: truth.get("group")}
    base = pd.DataFrame({k: v for k, v in keys.items() if k})

    def column(metric: str, task: str) -> str:  # the first template the entry gives
        return spec["overrides"].get(task, {}).get(metric, spec["metrics"].get(metric))[0]
    if cols["task"]:
        out = base.assign(**{cols["task"]: truth["task"].map(lambda t: spec["task_names"].get(t, t))})
        for metric in spec["metrics"]:
            for task, rows in truth.groupby("task"):
                out.loc[rows.index, column(metric, task).format(task=spec["task_names"].get(task, task))] = \
                    _to_unit(rows[metric].to_numpy(), metric, spec)
        return out.reset_index(drop=True)
    parts = []
    for task, rows in truth.groupby("task", sort=False):
        name = spec["task_names"].get(task, task)
        part = {column(m, task).format(task=name): _to_unit(rows[m].to_numpy(), m, spec)
                for m in spec["metrics"] if m != "lm_loss"}
        parts.append(pd.DataFrame(part, index=pd.MultiIndex.from_frame(rows[["run", "step"]])))
    first = truth.drop_duplicates(["run", "step"])
    out = base.loc[first.index].set_index(pd.MultiIndex.from_frame(first[["run", "step"]]))
    if "lm_loss" in spec["metrics"]:
        out[spec["metrics"]["lm_loss"][0]] = _to_unit(first["lm_loss"].to_numpy(), "lm_loss", spec)
    return pd.concat([out, *parts], axis=1).reset_index(drop=True)


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a table as CSV, TSV, parquet or JSONL, by the path's suffix (atomically)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".csv":
            frame.to_csv(tmp, index=False)
        elif path.suffix == ".tsv":
            frame.to_csv(tmp, index=False, sep="\t")
        elif path.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        elif path.suffix == ".jsonl":
            frame.to_json(tmp, orient="records", lines=True, double_precision=15)
        else:
            raise ValueError(f"{path}: unknown table suffix; expected .csv, .tsv, .parquet or .jsonl")
    return path


def write_lm_eval_run(truth: pd.DataFrame, out_dir: str | Path, samples: bool = True, docs: int = 4) -> Path:
    """One run of `truth` as an lm-eval output directory: per checkpoint a folder `step<step>/<model>/` with
    lm-eval's `results_<date>.json` (accuracy as acc_norm) and, with `samples`, its `samples_<task>_<date>.jsonl`
    (two choices per document whose log-likelihoods give exactly the truth's task loss and TaskCE), and the
    manifest (n, and per checkpoint its results folder, step and tokens)."""
    out_dir = Path(out_dir)
    if truth["run"].nunique() != 1:
        raise ValueError(f"one run at a time; found {sorted(truth['run'].unique())}")
    names = PRESETS["lm_eval"]["task_names"]
    checkpoints = []
    for i, (step, rows) in enumerate(truth.groupby("step")):
        model = f"__ckpt__step{step}"
        folder = out_dir / f"step{step}" / model
        folder.mkdir(parents=True, exist_ok=True)
        date = f"2025-01-01T00-00-{i:02d}.000000"
        results = {"results": {}, "group_subtasks": {}, "n-shot": {}, "n-samples": {},
                   "config": {"model": "hf", "model_args": f"pretrained=/ckpt/step{step}"},
                   "model_name": f"/ckpt/step{step}", "model_name_sanitized": model}
        for row in rows.itertuples():
            task = names.get(row.task, row.task)
            results["results"][task] = {"alias": task, "acc,none": float(row.acc), "acc_stderr,none": 0.01,
                                        "acc_norm,none": float(row.acc), "acc_norm_stderr,none": 0.01}
            results["n-shot"][task], results["n-samples"][task] = 0, {"original": docs, "effective": docs}
            if samples:
                lines = [json.dumps(_sample(k, row.task_loss, row.task_ce)) for k in range(docs)]
                (folder / f"samples_{task}_{date}.jsonl").write_text("\n".join(lines) + "\n")
        (folder / f"results_{date}.json").write_text(json.dumps(results, indent=2))
        checkpoints.append({"results": f"step{step}", "step": int(step), "tokens": int(rows["tokens"].iloc[0])})
    manifest = {"n": int(truth["n"].iloc[0]), "checkpoints": checkpoints}
    if "group" in truth.columns:
        manifest["group"] = str(truth["group"].iloc[0])
    if "seed" in truth.columns:
        manifest["seed"] = int(truth["seed"].iloc[0])
    (out_dir / "manifest.yaml").write_text(json.dumps(manifest, indent=1))
    return out_dir


def _sample(doc_id: int, task_loss: float, task_ce: float) -> dict:
    """An lm-eval sample of a two-choice document whose gold continuation has bits per byte `task_loss` and whose
    per-character TaskCE is `task_ce`; the gold choice alternates, logged as its index like lm-eval does."""
    choices = [" the answer", " no"]
    gold = doc_id % 2
    ll_gold = -task_loss * math.log(2) * len(choices[gold].encode())
    score_other = ll_gold / len(choices[gold]) + math.log(math.expm1(task_ce))  # -log_softmax(scores)[gold] = task_ce
    lls = [0.0, 0.0]
    lls[gold], lls[1 - gold] = ll_gold, score_other * len(choices[1 - gold])
    return {"doc_id": doc_id, "doc": {"query": f"question {doc_id}", "choices": choices, "gold": gold},
            "target": str(gold), "arguments": {f"gen_args_{k}": {"arg_0": f"Question {doc_id}:", "arg_1": c}
                                               for k, c in enumerate(choices)},
            "resps": [[[str(ll), "False"]] for ll in lls], "filtered_resps": [[str(ll), "False"] for ll in lls],
            "filter": "none", "metrics": ["acc", "acc_norm"], "acc": float(int(np.argmax(lls)) == gold)}
