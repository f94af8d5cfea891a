"""The plan of an experiment: one `Experiment` composed of its parts, every rule's one canonical `job` param, the
wildcard patterns, what `snakemake` makes, and the resources per rule family. The helper `planned` (a shipped
config, planned) serves the other workflow tests."""

import json
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest
from conftest import ROOT

from taskladder.base.config import ConfigError, load_config, validate
from taskladder.base.params import canonical
from taskladder.workflow.experiment import JOBS, plan, rule_resources


def planned(name: str, monkeypatch=None, **overrides):
    """configs/{name}.yaml with top-level `overrides`, planned from the checkout (its examples/ are relative)."""
    if monkeypatch is not None:
        monkeypatch.chdir(ROOT)
    config = load_config(ROOT / "configs" / f"{name}.yaml")
    config.update(overrides)
    return plan(validate(config), warn=lambda message: None, check_registries=False)


def test_every_rule_with_a_job_param_is_planned_and_canonical(monkeypatch):
    for name in ("smoke", "synthetic"):
        exp = planned(name, monkeypatch)
        jobs = list(exp.jobs())
        rules = {rule for rule, _, _ in jobs}
        assert rules <= set(JOBS)
        for rule, _, params in jobs:
            assert params == canonical(params), rule
            json.dumps(params)  # plain data: Snakemake compares it by repr, and it names nothing but values
        if name == "smoke":
            assert {"train", "evaluate", "prepare_task", "corpus_part", "tables"} <= rules
            assert sum(r == "train" for r in rules) == 1 and "import_run" not in rules
        else:
            assert {"import_run", "fit_method", "fit_ensemble", "backtest"} <= rules and "train" not in rules


def test_the_rules_name_exactly_the_planned_jobs():
    used = {m for path in (ROOT / "rules").glob("*.smk") for m in re.findall(r'EXP\.job\("(\w+)"\)', path.read_text())}
    assert used == set(JOBS)


def test_patterns_match_exactly_the_names(monkeypatch):
    exp = planned("synthetic", monkeypatch)
    assert re.fullmatch(exp.pattern("imported"), "190M-1xC") and re.fullmatch(exp.pattern("imported"), "7B-4T")
    assert not re.fullmatch(exp.pattern("imported"), "190M-1xC.csv")
    assert re.fullmatch(exp.pattern("method"), "ensemble") and re.fullmatch(exp.pattern("ensemble"), "ensemble")
    assert not re.fullmatch(exp.pattern("fitted"), "ensemble")
    assert exp.pattern("trained") == "^$"  # nothing trained: matches no run name
    assert re.fullmatch(exp.pattern("step"), "0000100") and re.fullmatch(exp.pattern("chunk"), "step0000001-0000009")


def test_outputs_are_what_rule_all_makes(monkeypatch):
    exp = planned("synthetic", monkeypatch)
    assert exp.layout.report_page in exp.outputs and exp.layout.table("predictions") in exp.outputs
    assert exp.fits.tables("ensemble")["weights"] in exp.outputs
    assert exp.layout.figure("two_step", "chained") in exp.outputs
    assert all(o.startswith("results/synthetic/") for o in exp.outputs)


def test_the_plan_checks_what_the_schema_cannot(monkeypatch):
    with pytest.raises(ConfigError, match="intervals.draws: 0 leaves the ensemble nothing to weigh"):
        planned("synthetic", monkeypatch, intervals={"level": 0.9, "draws": 0, "block": 5, "calibration_sizes": 3})
    with pytest.raises(ConfigError, match="experiment: experiment name '.hidden' cannot name a file"):
        planned("synthetic", monkeypatch, experiment=".hidden")
    with pytest.raises(ConfigError, match="analyses.compute_vs_error.target: 'none' is not a target with measurements"):
        planned("synthetic", monkeypatch, analyses={"variance": {"run": None, "last": 10, "tasks": ["mmlu"]},
                                                    "compute_vs_error": {"method": "two_step", "target": "none",
                                                                         "orders": ["flops"], "multistart": 0}})
    with pytest.raises(ConfigError, match="analyses.variance.run: 'none' is not a ladder run"):
        planned("synthetic", monkeypatch, analyses={"variance": {"run": "none", "last": 10, "tasks": ["mmlu"]},
                                                    "compute_vs_error": {"method": "two_step", "target": None,
                                                                         "orders": ["flops"], "multistart": 0}})


def test_the_plan_never_imports_torch():
    code = ("import sys; from taskladder.base.config import load_config; from taskladder.workflow.experiment import "
            "plan; plan(load_config('configs/smoke.yaml'), check_registries=False); "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_job_reads_its_wildcards(monkeypatch):
    exp = planned("smoke", monkeypatch)
    job = exp.job("train")(SimpleNamespace(run="s1-0.1xC", step="0000025"))
    assert job["rung"]["name"] == "s1-0.1xC" and "nproc" not in job["options"] and job["options"]["seed"] == 0


def _config(**extra):
    return {"experiment": "t", **extra}


def test_resources_per_rule_family():
    defaults = rule_resources(validate(_config()))
    assert defaults == {"prepare": {"mem_mb": 4000, "runtime": 120}, "train": {"mem_mb": 4000, "runtime": 240},
                        "evaluate": {"mem_mb": 4000, "runtime": 120}, "fit": {"mem_mb": 2000, "runtime": 30}}
    cuda = rule_resources(validate(_config(train={"device": "cuda", "nproc": 8}, evaluation={"device": "cuda"},
                                           resources={"train": {"partition": "gpu", "slurm_extra": "--qos=long"}})))
    # the names snakemake-executor-plugin-slurm maps to --partition, --gpus and extra sbatch options
    assert cuda["train"] == {"mem_mb": 4000, "runtime": 240, "slurm_partition": "gpu", "gpu": 8,
                             "slurm_extra": "--qos=long"}
    assert cuda["evaluate"]["gpu"] == 1 and "gpu" not in cuda["prepare"] and "gpu" not in cuda["fit"]
    explicit = validate(_config(train={"device": "cuda", "nproc": 8}, resources={"train": {"gpus": 0}},
                                evaluation={"device": "cpu"}))
    assert "gpu" not in rule_resources(explicit)["train"]
    assert rule_resources(validate(_config(resources={"evaluate": {"gpus": 2}})))["evaluate"]["gpu"] == 2


def test_plan_errors(tmp_path):
    config = validate(_config(imported={"a": {"file": "a.csv", "n": 1000}}))
    with pytest.raises(ConfigError, match="olmo_ladder_dir: not set"):
        plan(config)
    config["olmo_ladder_dir"] = str(tmp_path)
    with pytest.raises(ConfigError, match="imported.a.file: ladder log not found"):
        plan(config)
    (tmp_path / "a.csv").write_text("_step\n1\n")
    config["fit"]["tasks"] = ["mmlu", "hellaswagg"]
    with pytest.raises(ConfigError, match=r"fit.tasks: unknown task\(s\) \['hellaswagg'\]"):
        plan(config)
