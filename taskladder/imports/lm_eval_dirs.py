"""lm-eval output directories: one results file per checkpoint, listed in a manifest; task loss and TaskCE
from the per-sample log-likelihoods where lm-eval logged them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from taskladder.base.metrics_table import MIN_PARAMS, InputError
from taskladder.imports.files import Rows


def read_manifest(run_dir: Path, spec: dict) -> tuple[dict, str]:
    """The manifest of an lm-eval run directory (n, optional group and seed, checkpoints) and where it is."""
    manifest = spec.get("manifest", "manifest.yaml")
    where = f"imported.{spec['name']}.manifest"
    if isinstance(manifest, str):
        path = run_dir / manifest
        where = str(path)
        if not path.is_file():
            raise InputError(f"{path}: manifest not found (it lists the checkpoints of {run_dir}: n, and per "
                             "checkpoint its results, step and tokens)")
        try:
            manifest = yaml.safe_load(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as e:
            raise InputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start}); expected a UTF-8 YAML "
                             "file") from None
        except yaml.YAMLError as e:
            raise InputError(f"{path}: not YAML ({e})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("checkpoints"), list) or not manifest.get(
            "checkpoints"):
        raise InputError(f"{where}: expected a mapping with `checkpoints`: a list of {{results, step, tokens}}")
    unknown = sorted(set(manifest) - {"n", "group", "seed", "checkpoints"})
    if unknown:
        raise InputError(f"{where}: unknown key(s) {unknown}; expected n, group, seed, checkpoints")
    for i, ck in enumerate(manifest["checkpoints"]):
        if not isinstance(ck, dict) or set(ck) != {"results", "step", "tokens"}:
            raise InputError(f"{where}: checkpoints[{i}]: expected {{results, step, tokens}}, found {ck!r}")
        for k in ("step", "tokens"):
            if not isinstance(ck[k], (int, float)) or isinstance(ck[k], bool) or not ck[k] >= 0:
                raise InputError(f"{where}: checkpoints[{i}].{k}: expected a number >= 0, found {ck[k]!r}")
    return manifest, where


def lm_eval_table(run_dir: str | Path, spec: dict) -> tuple[pd.DataFrame, Rows]:
    """An lm-eval run directory as a table: one row per checkpoint of its manifest, columns n, step, tokens (and
    group, seed where given) and `<task>/<lm-eval metric key>` (e.g. `hellaswag/acc_norm,none`), plus
    `<task>/task_loss` and `<task>/task_ce` where lm-eval logged the samples."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError(f"lm-eval output directory not found: {run_dir}")
    manifest, where = read_manifest(run_dir, spec)
    n = manifest.get("n", spec.get("n"))
    if spec.get("n") is not None and n != spec["n"]:
        raise InputError(f"{where}: n = {n}, but imported.{spec['name']}.n = {spec['n']}")
    if not isinstance(n, int) or isinstance(n, bool) or n < MIN_PARAMS:
        raise InputError(f"{where}: n: expected the run's non-embedding parameters (an integer >= {MIN_PARAMS}: a "
                         f"count, 1.3e9 not 1.3), found {n!r}")
    listed, records, files = set(), [], {}
    for i, ck in enumerate(manifest["checkpoints"]):
        target = run_dir / str(ck["results"])
        found = sorted(target.rglob("results*.json")) if target.is_dir() else [target] if target.is_file() else []
        if not found:
            raise InputError(f"{where}: checkpoints[{i}].results: no lm-eval results*.json at {target}")
        listed.update(found)
        record = {"n": n, "step": ck["step"], "tokens": ck["tokens"], "group": manifest.get("group", spec.get("group")),
                  "seed": manifest.get("seed", spec.get("seed"))}
        owner: dict[str, Path] = {}
        for path in found:
            for task, values in _lm_eval_results(path).items():
                if task in owner:
                    raise InputError(f"{run_dir}: task '{task}' of checkpoint step {ck['step']} is in both "
                                     f"{owner[task].relative_to(run_dir)} and {path.relative_to(run_dir)}; "
                                     "list one of them in the manifest")
                owner[task] = path
                record.update({f"{task}/{k}": v for k, v in values.items()})
        records.append(record)
        files[i] = " + ".join(str(p.relative_to(run_dir)) for p in found)
    unlisted = sorted(set(run_dir.rglob("results*.json")) - listed)
    if unlisted:
        raise InputError(f"{run_dir}: results file(s) {[str(p.relative_to(run_dir)) for p in unlisted]} are not in the "
                         f"manifest ({where}); list every checkpoint with its step and tokens")
    raw = pd.DataFrame.from_records(records)
    return raw.drop(columns=[k for k in ("group", "seed") if raw[k].isna().all()]), Rows(run_dir, files=files)


def _lm_eval_results(path: Path) -> dict[str, dict]:
    """Per task of one results file: its metric values, and task_loss and task_ce from the logged samples
    (leaves' samples pooled for a group, weighted by their sizes as lm-eval weights group metrics)."""
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not JSON ({e})") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise InputError(f"{path}: not an lm-eval results file (no `results` mapping)")
    date = path.stem.rsplit("_", 1)[1] if "_" in path.stem else None  # lm-eval's date id has no "_"
    out, pooled = {}, {}
    for task, values in data["results"].items():
        if not isinstance(values, dict):
            raise InputError(f"{path}: results.{task}: expected a mapping of metric values (\"acc,none\": 0.5), found "
                             f"{json.dumps(values)[:60]}")
        out[task] = {k: v for k, v in values.items()
                     if "," in k and "stderr" not in k and isinstance(v, (int, float)) and not isinstance(v, bool)}
        samples = path.parent / f"samples_{task}_{date}.jsonl"
        if date and samples.is_file():
            metric = "len_norm" if "acc_norm,none" in values else "acc"
            pooled[task] = _sample_sums(samples, metric)
    groups = data.get("group_subtasks") or {}

    def leaves(task: str) -> list[str]:
        return [leaf for sub in groups[task] for leaf in leaves(sub)] if groups.get(task) else [task]

    for task in out:
        parts = leaves(task)
        if all(p in pooled for p in parts):
            loss, ce, docs = (sum(pooled[p][k] for p in parts) for k in range(3))
            out[task] |= {"task_loss": loss / docs, "task_ce": ce / docs}
    return out


def _sample_sums(path: Path, metric: str) -> tuple[float, float, int]:
    """Summed task loss (bpb of the gold continuation) and TaskCE over the documents of an lm-eval samples file."""
    from taskladder.evaluate.metrics import doc_metrics

    loss = ce = 0.0
    docs, kept_filter = set(), None
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}: line {line_no}"
            try:
                sample = json.loads(line)
                kept_filter = kept_filter or sample.get("filter", "none")
                if sample.get("filter", "none") != kept_filter:
                    continue
                args = sample["arguments"]
                pairs = [args[f"gen_args_{k}"] for k in range(len(args))] if isinstance(args, dict) else args
                continuations = [p["arg_1"] if isinstance(p, dict) else p[1] for p in pairs]
                logliks = [float(r[0]) for r in sample["filtered_resps"]]
                doc_id = sample["doc_id"]
            except (json.JSONDecodeError, KeyError, IndexError, TypeError, ValueError) as e:
                raise InputError(f"{where}: not an lm-eval sample of a multiple-choice task "
                                 f"({type(e).__name__}: {e})") from None
            if len(logliks) != len(continuations):
                raise InputError(f"{where}: {len(logliks)} log-likelihoods for {len(continuations)} choices")
            if doc_id in docs:
                raise InputError(f"{where}: doc_id {doc_id} appears twice")
            docs.add(doc_id)
            gold = _gold(sample, continuations, logliks, where)

            task_loss, _, task_ce = doc_metrics(logliks, continuations, gold, metric)
            loss, ce = loss + task_loss, ce + task_ce
    if not docs:
        raise InputError(f"{path}: no samples")
    return loss, ce, len(docs)


def _gold(sample: dict, continuations: list[str], logliks: list[float], where: str) -> int:
    """The gold choice of a logged sample: lm-eval logs str(doc_to_target), an index or the choice's text;
    where both readings fit, the sample's logged `acc` tells them apart."""
    target = str(sample.get("target"))
    candidates = {k for k, c in enumerate(continuations) if target in (c, c.strip(), c[1:])}
    if re.fullmatch(r"\d+", target) and int(target) < len(continuations):
        candidates.add(int(target))
    if len(candidates) > 1 and "acc" in sample:
        best = int(np.argmax(logliks))
        candidates = {k for k in candidates if float(k == best) == float(sample["acc"])}
    if len(candidates) != 1:
        raise InputError(f"{where}: cannot tell the gold choice from target {target!r} among {len(continuations)} "
                         f"choices {continuations!r}")
    return candidates.pop()
