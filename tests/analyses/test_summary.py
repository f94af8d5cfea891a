"""The summary tables gathered from every method's tables: flags on every prediction, and with groups each group's
tables summarised on its own ladder."""

import pandas as pd
import pytest
from conftest import EVIDENCE, intervals

from taskladder.analyses.summary import (
    ANALYSIS_TABLES,
    TABLES,
    SummaryJob,
    run_summary_job,
)
from taskladder.base.config import defaults, paper_methods
from taskladder.base.files import write_csv
from taskladder.fit.methods import run_method
from taskladder.synthetic.ladders import ladder_truth
from taskladder.synthetic.truth import SIZES

OPTIONS = {"final_checkpoints": 5, "target_checkpoints": 1, "drop_first": 0.1, "window": 5, "huber_delta": 1e-3,
           "multistart": 2, "minima_rtol": 1e-3, "seed": 0}
TARGET = {"n": 3_000_000_000, "d": 60_000_000_000, "flops": None}


@pytest.fixture(scope="module")
def grouped(tmp_path_factory):
    """two_step's tables of two groups' ladders, written as their jobs write them (a group column), and the
    ladders' metrics."""
    folder = tmp_path_factory.mktemp("summary")
    ladder = ladder_truth(("piqa",), sizes={k: SIZES[k] for k in ("190M", "370M", "760M")}, multiples=(1, 2, 5),
                          checkpoints=6, groups=("web", "noisy"), noise=0.001)
    write_csv(ladder, folder / "ladder.csv")
    inputs = {"ladder": [folder / "ladder.csv"]}
    for group, rows in ladder.groupby("group"):
        result = run_method("two_step", paper_methods()["two_step"], rows.drop(columns="group"), {"3B": TARGET},
                            ["piqa"], OPTIONS, intervals(draws=8), EVIDENCE)
        for table in ("predictions", "fits", "backtest", "calibration"):
            inputs.setdefault(table, []).append(folder / f"{table}-{group}.csv")
            write_csv(getattr(result, table).assign(group=group), inputs[table][-1])
    return ladder, inputs


def test_each_group_is_summarised_on_its_own_ladder(grouped, tmp_path):
    ladder, inputs = grouped
    runs = {g: sorted(rows["run"].unique()) for g, rows in ladder.groupby("group")}
    job = SummaryJob(tasks=["piqa"], methods={"two_step": paper_methods()["two_step"]}, options=OPTIONS,
                     flags=defaults("flags"), groups=runs)
    outputs = {name: tmp_path / f"{name}.csv" for name in (*TABLES, *ANALYSIS_TABLES)}
    out = run_summary_job(job, inputs, outputs)
    for name, path in outputs.items():
        if name == "ensemble_weights":  # no ensemble among the methods: an empty table
            continue
        written = pd.read_csv(path)
        assert sorted(written["group"].unique()) == ["noisy", "web"], name
    predictions = out["predictions"].set_index("group")
    assert predictions.loc["web", "pred_acc"] > predictions.loc["noisy", "pred_acc"]  # the better recipe
    assert "flags" in predictions and len(out["predictability"]) == 2


def test_without_groups_every_prediction_gets_its_flags(grouped, tmp_path):
    ladder, inputs = grouped
    web = {k: [p for p in v if "noisy" not in p.name] for k, v in inputs.items()}
    for table, paths in web.items():  # the tables as a job without groups writes them
        if table != "ladder":
            write_csv(pd.read_csv(paths[0]).drop(columns="group"), tmp_path / paths[0].name)
            web[table] = [tmp_path / paths[0].name]
    write_csv(ladder[ladder["group"] == "web"].drop(columns="group"), tmp_path / "web.csv")
    web["ladder"] = [tmp_path / "web.csv"]
    job = SummaryJob(tasks=["piqa"], methods={"two_step": paper_methods()["two_step"]}, options=OPTIONS,
                     flags={**defaults("flags"), "max_width": 0.0})  # every interval is too wide
    out = run_summary_job(job, web, {"predictions": tmp_path / "out.csv"})
    assert "group" not in out["predictions"]
    assert out["predictions"]["flags"].str.contains("wide_interval").all()
    assert pd.read_csv(tmp_path / "out.csv")["flags"].str.contains("wide_interval").all()
