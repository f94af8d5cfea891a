"""Where runs come from besides the ladder trained here: tables read for the plan with a digest per group, import
jobs that refuse a changed table, existing checkpoints checked and linked into the layout."""

import json

import pandas as pd
import pytest

from taskladder.base.config import ConfigError
from taskladder.base.files import write_csv
from taskladder.base.metrics_table import InputError
from taskladder.imports import sources
from taskladder.synthetic.ladders import ladder_truth
from taskladder.synthetic.truth import SIZES

ENTRY = {"file": "sweep.csv", "columns": {"run": "run", "n": "n", "tokens": "tokens", "step": "step",
                                          "group": "group"},
         "metrics": {"acc": "{task}_acc", "task_loss": "{task}_bpb"}, "tasks": ["piqa"]}


@pytest.fixture
def table(tmp_path):
    """A table of two groups' runs (wide: one column per task and metric) in a folder `olmo_ladder_dir` names."""
    truth = ladder_truth(("piqa",), sizes={"190M": SIZES["190M"]}, multiples=(1, 2), checkpoints=3,
                         groups=("web", "noisy"))
    wide = truth.rename(columns={"acc": "piqa_acc", "task_loss": "piqa_bpb"})[
        ["run", "n", "tokens", "step", "group", "piqa_acc", "piqa_bpb"]]
    write_csv(wide, tmp_path / "sweep.csv")
    return {"olmo_ladder_dir": str(tmp_path)}, wide


def test_a_digest_is_of_the_rows():
    frame = pd.DataFrame({"run": ["a", "b"], "acc": [0.5, 0.6]})
    assert sources.digest(frame) == sources.digest(frame.copy()) and len(sources.digest(frame)) == 16
    assert sources.digest(frame) != sources.digest(frame.assign(acc=[0.5, 0.61]))
    assert sources.digest(frame) != sources.digest(frame.iloc[::-1])  # row order is part of the table


def test_a_table_is_read_for_the_plan_with_a_digest_per_group(table):
    config, wide = table
    read = sources.read_table("sweep", ENTRY, config)
    assert read.groups == ["noisy", "web"] and read.ladder and read.tasks == ["piqa"] and read.checkpoints == 3
    assert read.runs == {"web-190M-1xC": "web", "web-190M-2xC": "web", "noisy-190M-1xC": "noisy",
                         "noisy-190M-2xC": "noisy"}
    assert "task_ce" in read.missing["piqa"] and "task_loss" not in read.missing["piqa"]  # what methods can fit
    edited = wide.copy()
    edited.loc[edited["run"] == "web-190M-1xC", "piqa_acc"] += 0.01
    write_csv(edited, f"{config['olmo_ladder_dir']}/sweep.csv")
    again = sources.read_table("sweep", ENTRY, config)
    assert again.digests["noisy"] == read.digests["noisy"] and again.digests["web"] != read.digests["web"]


def test_an_import_job_writes_its_groups_rows_and_refuses_a_changed_table(table, tmp_path):
    config, wide = table
    digests = sources.read_table("sweep", ENTRY, config).digests
    job = {"entry": "sweep", "spec": ENTRY, "base_dir": config["olmo_ladder_dir"], "group": "web",
           "digest": digests["web"]}
    counts = sources.import_table(job, tmp_path / "out" / "web.csv")
    frame = pd.read_csv(tmp_path / "out" / "web.csv")
    assert set(frame["run"]) == {"web-190M-1xC", "web-190M-2xC"} and len(frame) == 6
    assert counts == {"runs": 2, "checkpoints": 6, "tasks": frame["task"].nunique()}
    with pytest.raises(InputError, match="imported.sweep: sweep.csv changed since the workflow started"):
        sources.import_table({**job, "group": "noisy"}, tmp_path / "out" / "noisy.csv")
    assert not (tmp_path / "out" / "noisy.csv").exists()


def test_a_run_log_entry_and_where_relative_files_are_read():
    assert sources.is_run_log({"file": "a.csv", "n": 1}) and sources.is_run_log({"file": "a.csv", "n": 1,
                                                                                 "ladder": False})
    assert not sources.is_run_log({"file": "a.csv", "columns": {}})
    assert str(sources.base_dir({})) == "." and str(sources.base_dir({"olmo_ladder_dir": "logs"})) == "logs"


def saved_model(folder):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_text("weights")
    (folder / "taskladder.json").write_text('{"run": "someone else"}')
    return folder


def test_existing_checkpoints_are_checked_by_run(tmp_path):
    path = str(saved_model(tmp_path / "ck"))
    runs = sources.plan_checkpoints([{"run": "r", "n": 5, "tokens": 20, "step": 2, "path": path},
                                     {"run": "r", "n": 5, "tokens": 10, "step": 1, "hub": "org/model",
                                      "revision": "step1"}])
    assert runs["r"].steps == [1, 2] and runs["r"].source(1) == {
        "hub": "org/model", "revision": "step1", "info": {"run": "r", "n": 5, "step": 1, "tokens": 10}}
    bad = {"tokens go down": ([{"run": "r", "n": 5, "tokens": 20, "step": 1, "path": path},
                               {"run": "r", "n": 5, "tokens": 10, "step": 2, "path": path}],
                              "tokens go down from 20 at step 1 to 10 at step 2"),
           "two n": ([{"run": "r", "n": 5, "tokens": 1, "step": 1, "path": path},
                      {"run": "r", "n": 6, "tokens": 2, "step": 2, "path": path}], "expected one n and group per run"),
           "no model": ([{"run": "r", "n": 5, "tokens": 1, "step": 1, "path": str(tmp_path)}],
                        "no config.json in it"),
           "both": ([{"run": "r", "n": 5, "tokens": 1, "step": 1, "path": path, "hub": "o/m"}], "not both"),
           "bad hub": ([{"run": "r", "n": 5, "tokens": 1, "step": 1, "hub": "../m"}], "is not a hub id"),
           "no tokens after step 0": ([{"run": "r", "n": 5, "tokens": 0, "step": 3, "hub": "o/m"}],
                                      r"checkpoints\[0\].tokens: 0 at step 3; expected tokens > 0 after step 0")}
    for case, (items, message) in bad.items():
        with pytest.raises(ConfigError, match=message):
            sources.plan_checkpoints(items)


def test_a_linked_checkpoint_appears_complete_with_its_own_info(tmp_path):
    src = saved_model(tmp_path / "src")
    out = tmp_path / "results" / "checkpoints" / "r" / "step0000001"
    info = {"run": "r", "n": 5, "step": 1, "tokens": 10}
    assert sources.link_checkpoint({"path": str(src), "info": info}, out) == out
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "model.safetensors", "taskladder.json"]
    assert (out / "model.safetensors").is_symlink() and (out / "model.safetensors").read_text() == "weights"
    assert json.loads((out / "taskladder.json").read_text()) == info  # ours, not the source's
    assert (src / "taskladder.json").read_text() == '{"run": "someone else"}'
    sources.link_checkpoint({"path": str(src), "info": {**info, "tokens": 11}}, out)  # a rerun replaces it
    assert json.loads((out / "taskladder.json").read_text())["tokens"] == 11
    with pytest.raises(ValueError, match="no config.json in"):
        sources.link_checkpoint({"path": str(tmp_path / "results"), "info": info}, tmp_path / "other")
    assert sorted(p.name for p in out.parent.iterdir()) == ["step0000001"] and not (tmp_path / "other").exists()
