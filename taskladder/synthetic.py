"""Synthetic ladders with known laws, in every shape the importers read.

Every checkpoint's task loss follows step 1 of the paper's fitted laws (Table 7) at the tokens
seen so far, its accuracy follows step 2, and both get Gaussian noise. Fitting must give back the
generating parameters, and predicting a target must give back the target's truth.

- ``write_example``: the bundled example (``examples/synthetic-ladder``), OLMo-ladder CSVs.
- ``write_sweep``: the bundled sweep (``examples/sweep/sweep.csv``, read by ``configs/sweep-example.yaml``):
  three data recipes (``GROUPS``), one row per final model, per-task column names that differ.
- ``ladder_truth`` / ``isoflop_truth``: the long metrics table of a ladder (runs with many
  checkpoints; optionally several seeds and groups whose laws differ, see ``GROUPS``) or of an
  iso-FLOP sweep (one final model per run). ``table_for(truth, entry)`` is the table an
  ``imported`` entry reads (wide or long task columns, one row per checkpoint or per final model,
  any units and column names); ``write_table`` writes it as CSV, TSV, parquet or JSONL.
  ``write_lm_eval_run``: one run as an lm-eval output directory, with or without samples.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from taskladder.importers import LM_LOSS_COLUMN, MMLU_GROUPS, PRESETS, check_entry, loss_factor, olmo_columns
from taskladder.io import atomic_path, write_csv
from taskladder.laws import power_nd, sigmoid

# paper Table 7: step 1 (A, alpha, B, beta, E) and step 2 (a, L0, k, b)
TRUE_LAWS = {
    "mmlu": ((38.07, 0.23, 100.09, 0.24, 0.45), (-0.74, 0.62, 4.83, 1.00)),
    "hellaswag": ((11.23, 0.20, 60.37, 0.26, 0.50), (-0.73, 0.77, 12.74, 0.99)),
    "arc_challenge": ((702974.93, 0.79, 38.45, 0.20, 0.65), (-0.78, 0.71, 5.91, 1.00)),
    "arc_easy": ((79412.07, 0.66, 3957.51, 0.42, 0.56), (-0.65, 0.74, 4.13, 1.00)),
    "piqa": ((405.66, 0.40, 10.16, 0.15, 0.72), (-0.46, 0.96, 5.03, 1.00)),
    "csqa": ((56.86, 0.23, 10.91, 0.11, 0.00), (-0.86, 1.13, 2.21, 1.00)),
    "socialiqa": ((1200.94, 0.45, 7897.19, 0.48, 0.95), (-0.60, 0.89, 7.16, 1.00)),
    "openbookqa": ((86346.32, 0.69, 137.35, 0.26, 1.20), (-0.79, 1.08, 4.31, 1.00)),
    # not fitted by the paper; present so the example has every column
    "boolq": ((40.0, 0.2, 40.0, 0.2, 0.1), (-0.45, 0.8, 4.0, 1.00)),
    "winogrande": ((40.0, 0.2, 40.0, 0.2, 1.0), (-0.45, 1.6, 4.0, 1.00)),
}
SIZES = {"190M": 190_354_176, "370M": 371_262_464, "760M": 758_220_288, "1B": 1_279_395_840}
MULTIPLES = (1, 2, 5, 10)
TARGET = ("7B-4T", 6_887_575_552, 3_945_065_873_408)


# data recipes whose step-1 laws differ: (shift of E, factor on B); lower loss, higher accuracy
GROUPS = {"curated": (-0.05, 0.8), "web": (0.0, 1.0), "noisy": (0.06, 1.25)}


def step1_params(task: str, group: str | None = None) -> np.ndarray:
    a_, alpha, b_, beta, e = TRUE_LAWS[task][0]
    de, fb = GROUPS[group] if group else (0.0, 1.0)
    return np.array([np.log(a_), np.log(b_ * fb), alpha, beta, e + de])


def true_task_loss(task: str, n, d, group: str | None = None) -> np.ndarray:
    x = {"n": np.atleast_1d(np.asarray(n, float)), "d": np.atleast_1d(np.asarray(d, float))}
    return power_nd(step1_params(task, group), x)


def true_accuracy(task: str, loss) -> np.ndarray:
    return sigmoid(np.array(TRUE_LAWS[task][1]), {"x": np.atleast_1d(np.asarray(loss, float))})


def run_frame(n: int, d: int, checkpoints: int, rng, loss_noise: float, acc_noise: float,
              batch_tokens: int = 4 * 1024 * 1024, final_only: bool = False) -> pd.DataFrame:
    """One run's rows in the OLMo-ladder format: checkpoints evenly spaced up to d tokens."""
    total_steps = max(1, round(d / batch_tokens))
    steps = np.array([total_steps]) if final_only else np.unique(
        np.linspace(total_steps / checkpoints, total_steps, checkpoints).round().astype(int))
    tokens = steps * batch_tokens
    cols: dict[str, np.ndarray] = {"_step": steps, "batch_size_in_tokens": np.full(len(steps), batch_tokens)}
    noise = lambda sd: rng.normal(0, sd, len(steps))  # noqa: E731
    cols[LM_LOSS_COLUMN] = 1.7 + 480.0 / n**0.3 + 1500.0 / tokens**0.27 + noise(loss_noise)
    tasks = [t for t in TRUE_LAWS if t != "mmlu"] + [f"mmlu_{g}" for g in MMLU_GROUPS]
    for task in tasks:
        law = "mmlu" if task.startswith("mmlu") else task
        loss = true_task_loss(law, n, tokens) + noise(loss_noise)
        acc = np.clip(true_accuracy(law, loss) + noise(acc_noise), 0, 1)
        c = olmo_columns(task)
        cols[c["task_loss"]], cols[c["acc"]] = loss, acc
        cols[c["task_ce"]] = np.log(0.15 + 0.7 * acc)  # the logs store the negated TaskCE
    return pd.DataFrame(cols)


def write_example(out_dir: str | Path, seed: int = 0, checkpoints: int = 20, loss_noise: float = 0.004,
                  acc_noise: float = 0.004) -> list[Path]:
    """Write the 16 ladder runs and the target's final evaluation; return the files written."""
    rng = np.random.default_rng(seed)
    out_dir = Path(out_dir)
    written = []
    for size, n in SIZES.items():
        for xc in MULTIPLES:
            path = out_dir / f"{size}-{xc}xC.csv"
            write_csv(run_frame(n, xc * 20 * n, checkpoints, rng, loss_noise, acc_noise), path, float_format="%.7g")
            written.append(path)
    name, n, d = TARGET
    path = out_dir / f"{name}.csv"
    write_csv(run_frame(n, d, 1, rng, loss_noise, acc_noise, final_only=True), path, float_format="%.7g")
    return written + [path]



# ----------------------------------------------------------------------------- tables in any shape

LADDER_TASKS = ("hellaswag", "arc_easy", "piqa", "openbookqa", "boolq")


def _lm_loss(n, tokens) -> np.ndarray:
    return 1.7 + 480.0 / np.asarray(n, float) ** 0.3 + 1500.0 / np.asarray(tokens, float) ** 0.27


def _checkpoints(run: str, n: int, tokens: np.ndarray, steps: np.ndarray, tasks, rng, noise: float,
                 group: str | None, seed: int | None) -> pd.DataFrame:
    """One run's rows of the long metrics table: every task at every checkpoint, with noise."""
    lm_loss = _lm_loss(n, tokens) + rng.normal(0, noise, len(steps))
    frames = []
    for task in tasks:
        loss = true_task_loss(task, n, tokens, group) + rng.normal(0, noise, len(steps))
        acc = np.clip(true_accuracy(task, loss) + rng.normal(0, noise, len(steps)), 0, 1)
        frames.append(pd.DataFrame({"run": run, "n": n, "step": steps, "tokens": tokens, "task": task,
                                    "task_loss": loss, "acc": acc, "task_ce": -np.log(0.15 + 0.7 * acc),
                                    "lm_loss": lm_loss, "flops": 6.0 * n * tokens}))
    frame = pd.concat(frames, ignore_index=True)
    if seed is not None:
        frame["seed"] = seed
    if group is not None:
        frame["group"] = group
    return frame


def ladder_truth(tasks=LADDER_TASKS, *, sizes=SIZES, multiples=MULTIPLES, checkpoints: int = 10, seeds=None,
                 groups=None, noise: float = 0.003, seed: int = 0, batch_tokens: int = 4 * 1024 * 1024) -> pd.DataFrame:
    """The long metrics table of a ladder: every size x data multiple is a run of `checkpoints` checkpoints;
    with `seeds`, one run per seed (named ...-s<seed>; they differ only by the noise), with `groups` (names of
    GROUPS), one ladder per group (runs named <group>-...)."""
    rng = np.random.default_rng(seed)
    frames = []
    for group in groups or [None]:
        for size, n in sizes.items():
            for xc in multiples:
                total = max(1, round(xc * 20 * n / batch_tokens))
                steps = np.unique(np.linspace(total / checkpoints, total, checkpoints).round().astype(np.int64))
                for s in seeds or [None]:
                    run = "-".join(p for p in (group, f"{size}-{xc}xC", None if s is None else f"s{s}") if p)
                    frames.append(_checkpoints(run, n, steps * batch_tokens, steps, tasks, rng, noise, group, s))
    return pd.concat(frames, ignore_index=True)


def isoflop_truth(tasks=LADDER_TASKS, *, budgets=(1e19, 4e19, 1.6e20), per_budget: int = 5, groups=tuple(GROUPS),
                  noise: float = 0.002, seed: int = 0) -> pd.DataFrame:
    """An iso-FLOP sweep: at each compute budget C, `per_budget` model sizes around 20 tokens per parameter
    (D = C / 6N), each trained once to its end (one checkpoint per run), for every group (data recipe)."""
    rng = np.random.default_rng(seed)
    frames = []
    for group in groups:
        for c in budgets:
            n_opt = math.sqrt(c / 120)  # C = 6 N D with D = 20 N
            for n in np.unique((n_opt * np.geomspace(0.4, 2.5, per_budget)).round(-6).astype(np.int64)):
                tokens = np.array([round(c / (6 * n))], dtype=np.int64)
                run = f"{group}-{c:.1e}-{n // 1_000_000}M"
                frames.append(_checkpoints(run, int(n), tokens, np.zeros(1, np.int64), tasks, rng, noise, group, None))
    return pd.concat(frames, ignore_index=True)


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


# ----------------------------------------------------------------------------- the bundled sweep

SWEEP_TASKS = LADDER_TASKS
SWEEP_TARGET = ("3B", 3_000_000_000, 5)  # each recipe's largest model, trained at 5xC: a target with actuals
SWEEP_ENTRY = {  # how configs/sweep-example.yaml reads examples/sweep/sweep.csv
    "columns": {"run": "model", "n": "params", "tokens": "tokens", "group": "recipe"},
    "metrics": {"acc": "{task}_acc_norm", "task_loss": "{task}_bpb"},
    "overrides": {"boolq": {"acc": "{task}_acc"}},
    "task_names": {"openbookqa": "openbook_qa"},
    "units": {"acc": "percent"},
    "tasks": list(SWEEP_TASKS),
}


def sweep_truth(seed: int = 0) -> pd.DataFrame:
    """A sweep of the data recipes of GROUPS: the ladder's 16 sizes x multiples and the 3B model at 5xC for each,
    trained once each (one final checkpoint per run)."""
    ladder = ladder_truth(SWEEP_TASKS, checkpoints=1, groups=tuple(GROUPS), seed=seed)
    name, n, xc = SWEEP_TARGET
    target = ladder_truth(SWEEP_TASKS, sizes={name: n}, multiples=(xc,), checkpoints=1, groups=tuple(GROUPS),
                          seed=seed + 1)
    return pd.concat([ladder, target], ignore_index=True)


def write_sweep(out_dir: str | Path, seed: int = 0) -> Path:
    """Write the bundled sweep table (sweep.csv in `out_dir`): one row per final model, the recipe in `recipe`,
    accuracy in percent as `<task>_acc_norm` (`boolq_acc` for BoolQ), openbookqa named openbook_qa."""
    table = table_for(sweep_truth(seed), {"file": "sweep.csv", **SWEEP_ENTRY})
    return write_table(table.round(6).astype({"params": "int64", "tokens": "int64"}), Path(out_dir) / "sweep.csv")
