"""The plan of imports: the metrics table that holds each run, and import jobs that rerun only when their own rows
change."""

import shutil
from types import SimpleNamespace

import pandas as pd
import pytest
from conftest import ROOT
from test_experiment import planned


@pytest.fixture
def sweep(tmp_path, monkeypatch):
    """The bundled sweep (a table of three recipes' runs) in a working folder."""
    shutil.copytree(ROOT / "examples" / "sweep", tmp_path / "examples" / "sweep")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_run_log_is_its_own_metrics_table(monkeypatch):
    exp = planned("synthetic", monkeypatch)
    assert exp.imports.metrics("190M-1xC") == "results/synthetic/metrics/190M-1xC.csv"
    assert exp.imports.metrics_of(["190M-1xC", "7B-4T"]) == ["results/synthetic/metrics/190M-1xC.csv",
                                                             "results/synthetic/metrics/7B-4T.csv"]
    w = SimpleNamespace(run="190M-1xC")
    assert exp.imports.log_job(w) == {"format": "olmo_ladder", "n": 190354176}
    assert exp.imports.log_file(w) == "examples/synthetic-ladder/190M-1xC.csv"


def test_a_tables_runs_share_their_groups_table_and_its_digest(sweep):
    exp = planned("sweep-example")  # its table read from the working folder's copy
    ladder = exp.runs.ladder_of("web")
    assert exp.imports.metrics_of(ladder) == ["results/sweep-example/metrics/sweep/web.csv"]
    job = exp.imports.table_job(SimpleNamespace(entry="sweep", group="web"))
    assert job["entry"] == "sweep" and job["group"] == "web" and job["base_dir"] == "."
    assert job["digest"] == exp.runs.tables["sweep"].digests["web"] and list(job) == sorted(job)
    table = pd.read_csv("examples/sweep/sweep.csv")
    table.loc[table["model"] == "curated-370M-2xC", "piqa_bpb"] *= 1.01  # an edit of another group's row
    table.to_csv("examples/sweep/sweep.csv", index=False)
    edited = planned("sweep-example")
    assert edited.imports.table_job(SimpleNamespace(entry="sweep", group="web")) == job
    assert edited.imports.table_job(SimpleNamespace(entry="sweep", group="curated"))["digest"] != \
        exp.imports.table_job(SimpleNamespace(entry="sweep", group="curated"))["digest"]
