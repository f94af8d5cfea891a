"""One method end to end as its workflow job runs it: the metrics files read, every table written (with the group
column where the ladder is a group's), targets measured by their own run or another."""

import numpy as np
import pandas as pd
import pytest
from conftest import EVIDENCE, intervals

from taskladder.base.config import paper_methods, validate
from taskladder.base.files import write_csv
from taskladder.fit.methods import PREDICTION_COLUMNS, FitJob, MethodResult, run_fit_job
from taskladder.fit.points import FitError
from taskladder.synthetic.ladders import ladder_truth
from taskladder.synthetic.truth import SIZES, true_accuracy, true_task_loss
from taskladder.workflow.fitting import fit_options

TARGET = {"n": 3_000_000_000, "d": 60_000_000_000, "flops": None}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The metrics files of a small ladder and of a measured target (its run named otherwise)."""
    folder = tmp_path_factory.mktemp("metrics")
    ladder = ladder_truth(("piqa", "hellaswag"), sizes={k: SIZES[k] for k in ("190M", "370M", "760M")},
                          multiples=(1, 2, 5), checkpoints=6, noise=0.001)
    target = ladder_truth(("piqa", "hellaswag"), sizes={"3B": TARGET["n"]}, multiples=(1,), checkpoints=1,
                          noise=0.0).assign(run="big-run")
    write_csv(ladder, folder / "ladder.csv")
    write_csv(target, folder / "big-run.csv")
    return folder


def job(**changes) -> FitJob:
    options = fit_options(validate({"experiment": "t", "fit": {"multistart": 2}}))
    spec = {"method": "two_step", "spec": paper_methods()["two_step"], "tasks": ["piqa"], "options": options,
            "intervals": intervals(draws=8), "evidence": EVIDENCE, "targets": {"3B-1xC": {**TARGET, "run": "big-run"}}}
    return FitJob(**{**spec, **changes})


def test_every_table_is_written_with_the_group_column(files, tmp_path):
    out = {t: tmp_path / f"{t}.csv" for t in MethodResult.TABLES}
    result = run_fit_job(job(group="web"), [files / "ladder.csv"], [files / "big-run.csv"], [], out)
    for table in MethodResult.TABLES:
        written = pd.read_csv(out[table])
        assert len(written) == len(getattr(result, table)) > 0, table
        assert (written["group"] == "web").all(), table
    predictions = pd.read_csv(out["predictions"])
    assert list(predictions.columns) == [*PREDICTION_COLUMNS, "group"]
    row = predictions.iloc[0]
    assert (row.method, row.task, row.target) == ("two_step", "piqa", "3B-1xC")
    truth = true_accuracy("piqa", true_task_loss("piqa", TARGET["n"], 20 * TARGET["n"]))[0]
    assert row.actual_acc == pytest.approx(truth, abs=0.01)  # measured by the run the target names
    assert row.pred_lo <= row.pred_acc <= row.pred_hi and abs(row.pred_acc - truth) < 0.05


def test_without_a_group_no_group_column_and_no_actuals_without_measurements(files, tmp_path):
    out = {t: tmp_path / f"{t}.csv" for t in MethodResult.TABLES}
    run_fit_job(job(targets={"3B-1xC": TARGET}, intervals=intervals(draws=0)), [files / "ladder.csv"], [], [], out)
    predictions = pd.read_csv(out["predictions"])
    assert "group" not in predictions and np.isnan(predictions["actual_acc"]).all()
    assert pd.read_csv(out["fits"])["step"].tolist() == ["step1", "step2"]


def test_a_task_the_ladder_does_not_hold_is_named(files, tmp_path):
    out = {t: tmp_path / f"{t}.csv" for t in MethodResult.TABLES}
    with pytest.raises(FitError, match=r"unknown task\(s\) \['csqa'\]: not in the ladder metrics \(1 files\); tasks "
                                       r"there: \['hellaswag', 'piqa'\]"):
        run_fit_job(job(tasks=["piqa", "csqa"]), [files / "ladder.csv"], [], [], out)
    assert not any(p.exists() for p in out.values())


def test_at_chance_is_decided_as_the_flags_decide_it_with_the_documents_evaluated(files, tmp_path):
    """A ladder 0.5-6.5 points above PIQA's chance with steady checkpoints: evaluated on 100 documents, that is
    within two binomial SDs (5 points each) of chance, so the fit writes no prediction and the flag agrees;
    evaluated on many documents, it is a trend and is predicted."""
    from taskladder.analyses.summary import task_measures
    from taskladder.fit.methods import AT_CHANCE

    ladder = pd.read_csv(files / "ladder.csv")
    piqa = ladder["task"] == "piqa"
    acc = ladder.loc[piqa, "acc"]
    ladder.loc[piqa, "acc"] = 0.505 + 0.06 * (acc - acc.min()) / (acc.max() - acc.min())
    for docs, expected in ((100, True), (100_000, False)):
        write_csv(ladder.assign(docs=docs), tmp_path / f"ladder-{docs}.csv")
        out = {t: tmp_path / f"{docs}-{t}.csv" for t in MethodResult.TABLES}
        result = run_fit_job(job(intervals=intervals(draws=0)), [tmp_path / f"ladder-{docs}.csv"], [], [], out)
        row = result.predictions.iloc[0]
        flagged = task_measures(ladder.assign(docs=docs), ["piqa"], job().options)[0]["at_chance"]
        assert flagged == expected and np.isnan(row.pred_acc) == expected, (docs, row.pred_acc, row.note)
        assert (row.note == AT_CHANCE) == expected
