"""Checks of a config against the data and code it names, made when the plan is built (before any job): what a
JSON schema cannot say."""

from __future__ import annotations

from pathlib import Path

from taskladder.base.config import ConfigError, schema
from taskladder.fit.laws import LAWS
from taskladder.fit.points import needed_metrics
from taskladder.imports.sources import HUB_ID, ImportedTable


def check_starts(config: dict) -> None:
    """A method's `start` has one value per parameter of its step's law."""
    for name, method in config["methods"].items():
        for step in ("step1", "step2"):
            spec = method.get(step) or {}
            if spec.get("start") is not None and len(spec["start"]) != len(LAWS[spec["law"]].params):
                params = LAWS[spec["law"]].params
                raise ConfigError(f"methods.{name}.{step}.start: {len(spec['start'])} values; expected {len(params)}, "
                                  f"one per parameter of {spec['law']} {list(params)}")


def check_methods(config: dict, tables: dict[str, ImportedTable], external: list[str], ladder_runs: list[str],
                  step2_runs: dict[str, str]) -> None:
    """Each fitted method's step-2 runs exist, and the runs it fits hold the metrics it needs (a source of accuracy
    only cannot feed a method that chains through task loss)."""
    check_starts(config)
    for name, method in config["methods"].items():
        if "ensemble" in method:
            continue
        for run in (method.get("step2") or {}).get("runs", []):
            if run not in step2_runs:
                raise ConfigError(f"methods.{name}.step2.runs: '{run}' is not an imported run with ladder: false; "
                                  f"such runs: {list(step2_runs)}")
        named = {step2_runs[r] for r in (method.get("step2") or {}).get("runs", [])}
        for table in tables.values():
            needed = needed_metrics(method, ladder=True) if table.ladder else []
            needed += needed_metrics(method, ladder=False) if table.name in named else []
            for task in config["fit"]["tasks"]:
                lacking = [m for m in dict.fromkeys(needed) if m in table.missing.get(task, [])]
                if lacking:
                    raise ConfigError(f"methods.{name}: task {task}: needs {lacking[0]}, which imported.{table.name} "
                                      f"({table.path}) does not hold; methods that fit accuracy alone (single_step) "
                                      "can use it")
        if "lm_loss" in needed_metrics(method) and any(r in ladder_runs for r in external):
            raise ConfigError(f"methods.{name}: needs lm_loss (the LM loss), which existing checkpoints "
                              "(`checkpoints`) are not measured on (each has a tokenizer of its own); remove the "
                              "method")


def check_run_counts(config: dict, ladders: dict[str | None, list[str]]) -> None:
    """Each fitted method's step 1 has fewer parameters than every ladder (group) has runs: what no job could fit
    is refused before any job runs. `ladders`: group (None: the one ladder) -> its runs."""
    for name, method in config["methods"].items():
        if "ensemble" in method:
            continue
        law = LAWS[method["step1"]["law"]]
        for group, runs in ladders.items():
            if len(runs) <= len(law.params):
                where = f"group {group}'s ladder" if group else "the ladder"
                raise ConfigError(f"methods.{name}: step 1 ({law.name}) has {len(law.params)} parameters and {where} "
                                  f"has {len(runs)} run(s); it needs more runs than parameters: add runs, or remove "
                                  "the method")


def variance_settings(config: dict, known: list[str], lengths: list[int | None], warn) -> dict | None:
    """analyses.variance as it will run (the default tasks restricted to those the metrics hold), or None where it
    does not run: every ladder run is known to have fewer checkpoints than it measures over."""
    settings = dict(config["analyses"]["variance"])
    default = schema()["properties"]["analyses"]["properties"]["variance"]["properties"]["tasks"]["default"]
    if settings["tasks"] == default:
        settings["tasks"] = [t for t in default if t in known] or list(known)
    check_tasks("analyses.variance.tasks", settings["tasks"], known)
    if lengths and None not in lengths and max(lengths) < settings["last"]:
        warn(f"analyses.variance: not run: the ladder's runs have at most {max(lengths)} checkpoint(s), fewer than "
             f"analyses.variance.last = {settings['last']}")
        return None
    return settings


def warn_averaged_too_far_back(config: dict, ladder, warn, reach: float = 0.8) -> None:
    """Warn where a trained run's value (the mean of a rung's last fit.final_checkpoints, of a target's last
    fit.target_checkpoints) averages checkpoints from before `reach` of the run's steps: a run with few
    checkpoints would be fitted (or measured) by its mean over most of training, not by its final value."""
    for key, runs in (("final_checkpoints", ladder.rungs if ladder else []),
                      ("target_checkpoints", ladder.targets if ladder else [])):
        k = config["fit"][key]
        early = [r for r in runs if 1 < k <= len(r.checkpoints) and r.checkpoints[-k] < reach * r.checkpoints[-1]]
        if early:
            run = min(early, key=lambda r: r.checkpoints[-k] / r.checkpoints[-1])
            warn(f"fit.{key}: {k} averages checkpoints from as early as "
                 f"{100 * run.checkpoints[-k] / run.checkpoints[-1]:.0f}% of a run's steps ({len(early)} run(s); "
                 f"{run.name}: steps {list(run.checkpoints[-k:])}), so a run's value is not its final one; set "
                 f"fit.{key} to 1, or checkpoint more often")


def known_tasks(kinds: list[list[str]]) -> list[str]:
    """Task names every source of ladder runs will hold (run logs, each table, the evaluation here)."""
    known = kinds[0] if kinds else []
    for tasks in kinds[1:]:
        known = [t for t in known if t in tasks]
    return known


def check_tasks(key: str, tasks: list[str], known: list[str]) -> None:
    unknown = [t for t in tasks if t not in known]
    if unknown:
        raise ConfigError(f"{key}: unknown task(s) {unknown}; the ladder metrics will hold {known}")


def check_lm_eval_tasks(evaluation: dict) -> None:
    """lm-eval task names, against lm-eval's registry (and the config's own task folder)."""
    from taskladder.tasks.lm_eval_tasks import lm_eval_task_manager

    names = [t if isinstance(t, str) else t["task"] for t in evaluation["lm_eval_tasks"]]
    include = evaluation.get("lm_eval_include_path")
    if include and not Path(include).is_dir():
        raise ConfigError(f"evaluation.lm_eval_include_path: directory not found: {include}")
    known = set(lm_eval_task_manager(include).all_tasks)
    unknown = [n for n in names if n not in known]
    if unknown:
        import difflib

        hints = {n: difflib.get_close_matches(n, known, n=3) for n in unknown}
        raise ConfigError(f"evaluation.lm_eval_tasks: unknown lm-eval task(s) {unknown}; expected names from "
                          f"lm-eval's registry (close matches: {hints})")


def check_tokenizer(tokenizer: dict) -> None:
    """A `pretrained` tokenizer: a local folder with tokenizer files, or a hub name."""
    path = tokenizer.get("path")
    if tokenizer["kind"] != "pretrained" or not path:
        return
    local = Path(path)
    if local.is_dir():
        if not any((local / f).exists() for f in ("tokenizer.json", "tokenizer_config.json", "vocab.json")):
            raise ConfigError(f"tokenizer.path: {path} holds no tokenizer.json, tokenizer_config.json or vocab.json; "
                              "expected a save_pretrained tokenizer folder")
    elif local.is_absolute() or path.startswith(".") or not HUB_ID.match(path):
        raise ConfigError(f"tokenizer.path: {path}: no such folder; expected a tokenizer folder or a hub name "
                          "(org/name)")
