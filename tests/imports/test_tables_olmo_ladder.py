import copy
import os
import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT

from taskladder.base.config import load_config
from taskladder.base.files import write_csv
from taskladder.base.metrics_table import METRIC_COLUMNS, InputError, read_metrics
from taskladder.imports import cache, sources
from taskladder.imports.entry import KNOWN_TASKS
from taskladder.imports.tables import read_olmo_ladder
from taskladder.synthetic.ladders import run_frame
from taskladder.synthetic.truth import SIZES
from taskladder.tasks.olmes import MMLU_GROUPS
from taskladder.workflow.experiment import plan


@pytest.fixture
def log(tmp_path):
    frame = run_frame(SIZES["190M"], 20 * SIZES["190M"], 6, np.random.default_rng(0), 0.01, 0.01)
    path = tmp_path / "190M-1xC.csv"
    frame.to_csv(path, index=False)
    return path, frame


def test_reads_the_long_table(log):
    path, raw = log
    m = read_olmo_ladder(path, "190M-1xC", 190354176, ["piqa", "boolq", "mmlu"])
    assert list(m.columns) == METRIC_COLUMNS + ["flops", "acc_mc"]
    np.testing.assert_allclose(m["flops"], 6.0 * 190354176 * m["tokens"])
    assert len(m) == 3 * len(raw)
    piqa = m[m["task"] == "piqa"]
    np.testing.assert_allclose(piqa["task_loss"], raw["eval/downstream_bpb/piqa_val_rc_5shot_bpb"])
    np.testing.assert_allclose(piqa["acc"], raw["eval/downstream/piqa_val_rc_5shot_len_norm"])
    np.testing.assert_allclose(piqa["task_ce"], -raw["eval/downstream_soft_log/piqa_val_rc_5shot_soft_log"])
    np.testing.assert_allclose(piqa["lm_loss"], raw["eval/c4_en-validation/CrossEntropyLoss"])
    np.testing.assert_array_equal(piqa["tokens"], raw["_step"] * raw["batch_size_in_tokens"])
    boolq = m[m["task"] == "boolq"]
    np.testing.assert_allclose(boolq["acc"], raw["eval/downstream/boolq_val_rc_5shot_acc"])


def test_mmlu_is_the_weighted_mean_of_its_groups(log):
    path, raw = log
    m = read_olmo_ladder(path, "r", 1, ["mmlu"])
    expected = sum(w * raw[f"eval/downstream/mmlu_{g}_test_rc_5shot_len_norm"] for g, w in MMLU_GROUPS.items())
    np.testing.assert_allclose(m["acc"], expected)
    assert sum(MMLU_GROUPS.values()) == pytest.approx(1.0)


def test_paper_target_file(paper_logs):
    m = read_olmo_ladder(paper_logs / "peteish7_eval_anneal.csv", "7B-4T", 6887575552, ["mmlu", "hellaswag"])
    assert m["tokens"].iloc[0] == 3945065873408
    assert m.loc[m["task"] == "mmlu", "acc"].iloc[0] == pytest.approx(0.490, abs=5e-4)  # paper Figure 2: 49.0
    assert m.loc[m["task"] == "hellaswag", "acc"].iloc[0] == pytest.approx(0.813, abs=5e-4)


def _corrupt(path, fn):
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw = fn(raw)
    raw.to_csv(path, index=False)


def test_missing_column_names_file_and_column(log):
    path, _ = log
    _corrupt(path, lambda raw: raw.drop(columns=["eval/downstream_bpb/piqa_val_rc_5shot_bpb"]))
    with pytest.raises(InputError, match=r"190M-1xC.csv: missing column 'eval/downstream_bpb/piqa_val_rc_5shot_bpb'"):
        read_olmo_ladder(path, "r", 1, ["piqa"])


@pytest.mark.parametrize("bad", ["abc", "nan", ""])
def test_non_numeric_or_nan_cell_names_row_and_column(log, bad):
    path, _ = log
    _corrupt(path, lambda raw: raw.assign(**{"eval/downstream/piqa_val_rc_5shot_len_norm":
                                             ["0.5", "0.5", bad, "0.5", "0.5", "0.5"]}))
    with pytest.raises(InputError, match=r"row 4, column 'eval/downstream/piqa_val_rc_5shot_len_norm'"):
        read_olmo_ladder(path, "r", 1, ["piqa"])


def test_empty_file(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="empty.csv: empty file"):
        read_olmo_ladder(empty, "r", 1, ["piqa"])
    header_only = tmp_path / "header.csv"
    header_only.write_text("_step,batch_size_in_tokens\n")
    with pytest.raises(InputError, match="header.csv: no rows"):
        read_olmo_ladder(header_only, "r", 1, ["piqa"])


def test_duplicate_steps(log):
    path, _ = log
    _corrupt(path, lambda raw: raw.assign(_step=["1", "2", "2", "3", "4", "5"]))
    with pytest.raises(InputError, match=r"duplicate step 2 in rows \[3, 4\]"):
        read_olmo_ladder(path, "r", 1, ["piqa"])


def test_unknown_task(log):
    path, _ = log
    with pytest.raises(InputError, match="unknown task name.*'pica'"):
        read_olmo_ladder(path, "r", 1, ["pica"])
    assert "mmlu" in KNOWN_TASKS


def test_read_metrics_checks_the_contract(tmp_path, log):
    path, _ = log
    m = read_olmo_ladder(path, "r", 1000, ["piqa"])
    good = tmp_path / "m.csv"
    write_csv(m, good)
    assert len(read_metrics([good])) == len(m)
    bad = tmp_path / "bad.csv"
    write_csv(m.drop(columns=["acc"]), bad)
    with pytest.raises(InputError, match=r"bad.csv: missing column\(s\) \['acc'\]"):
        read_metrics([bad])
    m = m.astype({"task_loss": object})
    m.loc[2, "task_loss"] = "x"
    write_csv(m, bad)
    with pytest.raises(InputError, match=r"bad.csv: row 4, column 'task_loss'"):
        read_metrics([bad])
    write_csv(pd.concat([m.iloc[:2], m.iloc[:1]]), bad)
    with pytest.raises(InputError, match="duplicate"):
        read_metrics([bad])


# ---- an imported table is read once per content, spec and code (taskladder.imports.cache) -----------------------

SWEEP = yaml.safe_load((ROOT / "configs" / "sweep-example.yaml").read_text())


@pytest.fixture
def reads(tmp_path, monkeypatch):
    """A working folder with the bundled sweep; yields the list of the table reads the plan made."""
    shutil.copytree(ROOT / "examples" / "sweep", tmp_path / "examples" / "sweep")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TASKLADDER_CACHE", raising=False)
    made = []
    summary = sources._summary
    monkeypatch.setattr(sources, "_summary", lambda name, *a: made.append(name) or summary(name, *a))
    return made


def sweep_table(config=SWEEP, entry="sweep"):
    return sources.read_table(entry, copy.deepcopy(config["imported"][entry]), config)


def test_a_second_plan_of_an_unchanged_table_does_not_read_it(reads):
    first = plan(load_config(overrides=copy.deepcopy(SWEEP)), warn=lambda msg: None)
    assert sorted(reads) == ["sweep", "sweep-3B"]
    again = plan(load_config(overrides=copy.deepcopy(SWEEP)), warn=lambda msg: None)
    assert sorted(reads) == ["sweep", "sweep-3B"] and again.runs.tables == first.runs.tables
    job = SimpleNamespace(entry="sweep", group="web")  # the import job's params: its rows' digest
    assert again.imports.table_job(job) == first.imports.table_job(job)
    records = sorted(p.name.split("-")[0] for p in Path(".snakemake/taskladder-cache").iterdir())
    assert records == ["result", "result", "stat", "stat"]


def test_an_edited_table_or_entry_is_read_again(reads):
    path = Path("examples/sweep/sweep.csv")
    first = sweep_table()
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))  # touched, the same bytes: hashed, not read
    assert sweep_table() == first and reads == ["sweep"]
    table = pd.read_csv(path)
    table.loc[table["model"] == "web-370M-2xC", "piqa_bpb"] *= 1.01
    table.to_csv(path, index=False)
    edited = sweep_table()
    assert reads == ["sweep"] * 2 and {g for g in first.digests if edited.digests[g] != first.digests[g]} == {"web"}
    config = copy.deepcopy(SWEEP)
    config["imported"]["sweep"]["filters"] = {"params": {"max": 1.0e9}}
    assert len(sweep_table(config).runs) < len(edited.runs) and reads == ["sweep"] * 3
    assert sweep_table(config) == sweep_table(config) and reads == ["sweep"] * 3


def test_what_is_not_kept(reads, monkeypatch):
    path = Path("examples/sweep/sweep.csv")
    path.write_text(path.read_text().replace(",curated,", ",,", 1))  # a run without its group
    for n in (1, 2):  # a failed read is not kept: each start says what is wrong
        with pytest.raises(InputError, match=r"sweep\.csv: row \d+, column 'recipe': expected a group name, found an "
                                             "empty cell"):
            sweep_table()
        assert reads == ["sweep"] * n
    shutil.copy(ROOT / "examples" / "sweep" / "sweep.csv", path)
    sweep_table()
    monkeypatch.setattr(cache, "code_version", lambda: "another version of the importer")
    sweep_table()
    monkeypatch.setenv("TASKLADDER_CACHE", "off")
    sweep_table()
    assert reads == ["sweep"] * 5
