"""The runs of an experiment, where each comes from, and the targets: names unique, missing logs, groups."""

import copy
import shutil

import pytest
import yaml
from conftest import ROOT
from test_experiment import planned

from taskladder.base.config import ConfigError, load_config, validate
from taskladder.workflow.experiment import plan
from taskladder.workflow.runs import Target, plan_runs

SYNTHETIC = yaml.safe_load((ROOT / "configs" / "synthetic.yaml").read_text())


@pytest.fixture
def logs(tmp_path, monkeypatch):
    """A copy of the synthetic ladder's logs and a config that reads them."""
    shutil.copytree(ROOT / "examples" / "synthetic-ladder", tmp_path / "logs")
    monkeypatch.chdir(tmp_path)
    return tmp_path / "logs"


def synthetic(**changes) -> dict:
    return validate({**copy.deepcopy(SYNTHETIC), "olmo_ladder_dir": "logs", **changes})


def test_run_logs_and_measured_targets(monkeypatch):
    runs = planned("synthetic", monkeypatch).runs
    assert len(runs.ladder_runs) == 16 and runs.ladder_runs[0] == "190M-1xC" and runs.trained == []
    assert runs.imported_logs == [*runs.imported, "7B-4T"] and runs.log_source("7B-4T").path.name == "7B-4T.csv"
    target = runs.targets["7B-4T"]
    assert target.measured and target.run_in(None) == "7B-4T" and not target.trained
    assert runs.groups == [] and runs.parts == [None] and runs.ladder_of(None) == runs.ladder_runs


def test_a_ladder_trained_here_and_its_targets(monkeypatch):
    runs = planned("smoke", monkeypatch).runs
    assert runs.trained == ["s1-0.1xC", "s1-0.2xC", "s2-0.1xC", "s2-0.2xC", "s3-0.1xC", "s3-0.2xC"]
    assert list(runs.targets) == ["t1-0.1xC"] and runs.targets["t1-0.1xC"].trained
    assert runs.imported_logs == [] and runs.ladder_runs == runs.trained


def test_a_target_measured_by_another_run():
    target = Target("3B", n=3, d=60, flops=None, runs={"web": "web-3B", "curated": "curated-3B"})
    assert target.spec("web") == {"n": 3, "d": 60, "flops": None, "run": "web-3B"}
    assert target.run_in("noisy") is None and not Target("x", 1, 2, None).measured


def test_a_missing_target_log_is_skipped_with_a_warning(logs):
    (logs / "7B-4T.csv").unlink()
    warnings = []
    runs = plan_runs(synthetic(), None, warnings.append)
    assert "7B-4T" not in runs.targets and len(runs.ladder_runs) == 16
    assert warnings == ["target 7B-4T: logs/7B-4T.csv not found; skipping this target"]


def test_a_missing_ladder_log_or_folder_stops_the_plan(logs):
    (logs / "1B-10xC.csv").unlink()
    with pytest.raises(ConfigError, match="imported.1B-10xC.file: ladder log not found: logs/1B-10xC.csv"):
        plan_runs(synthetic(), None, print)
    (logs / "1B-10xC.csv").mkdir()  # a folder where the log should be: refused now, not by its import job
    with pytest.raises(ConfigError, match="imported.1B-10xC.file: logs/1B-10xC.csv is a directory; expected a ladder "
                                          r"log \(a CSV file\)"):
        plan_runs(synthetic(), None, print)
    with pytest.raises(ConfigError, match="olmo_ladder_dir: not set"):
        plan_runs(synthetic(olmo_ladder_dir=None), None, print)
    with pytest.raises(ConfigError, match="olmo_ladder_dir: directory not found: elsewhere"):
        plan_runs(synthetic(olmo_ladder_dir="elsewhere"), None, print)


def test_names_are_unique_across_sources(logs):
    config = synthetic()
    config["targets"]["190M-1xC"] = {"n": 1, "d": 2}
    with pytest.raises(ConfigError, match="targets.190M-1xC: the name is also a ladder run"):
        plan_runs(config, None, print)
    with pytest.raises(ConfigError, match="the config names no ladder runs"):
        plan_runs(synthetic(imported={}), None, print)


def test_groups_are_all_or_none(logs):
    config = synthetic()
    config["imported"]["190M-1xC"]["group"] = "web"
    with pytest.raises(ConfigError, match=r"groups: ladder runs \['190M-2xC', .* have no group, while others are in "
                                          r"groups \['web'\]"):
        plan_runs(config, None, print)
    for name, spec in config["imported"].items():
        spec["group"] = "web" if name.startswith(("190M", "370M")) else "curated"
    runs = plan_runs(config, None, print)
    assert runs.groups == ["curated", "web"] and runs.ladder_of("web")[0] == "190M-1xC"
    assert len(runs.ladder_of("web")) == 8 and runs.group_of["1B-1xC"] == "curated"


def test_plan_skips_a_target_whose_file_is_absent(paper_logs):
    config = load_config(ROOT / "configs" / "olmo-paper-import.yaml", {"olmo_ladder_dir": str(paper_logs)})
    warnings = []
    exp = plan(config, warn=warnings.append)
    assert len(exp.runs.ladder_runs) == 16
    assert "7B-4T" in exp.runs.targets
    if not (paper_logs / "peteish13_eval_final.csv").exists():
        assert "13B-5T" not in exp.runs.targets
        assert any("13B-5T" in w and "skipping" in w for w in warnings)
