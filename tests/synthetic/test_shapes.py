"""Tables in every supported shape, written from known laws, imported back: the values and predictions are the
known ones."""
import numpy as np
import pandas as pd
import pytest
from conftest import EVIDENCE, intervals

from taskladder.analyses.groups import group_comparison
from taskladder.base.config import paper_methods, validate
from taskladder.fit.methods import fit_options, run_method
from taskladder.imports.tables import missing_metrics, read_entry
from taskladder.synthetic.ladders import SWEEP_GROUPS, isoflop_truth, ladder_truth
from taskladder.synthetic.shapes import table_for, write_lm_eval_run, write_table
from taskladder.synthetic.truth import (
    SIZES,
    TARGET,
    true_accuracy,
    true_task_loss,
)

SMALL = {"sizes": {k: SIZES[k] for k in ("190M", "760M")}, "multiples": (1, 5), "checkpoints": 4}
TASKS = ("hellaswag", "boolq", "openbookqa")
KEYS = {"run": "run", "n": "params", "tokens": "tokens", "step": "step"}
# column names that differ per task, as real exports have them
WIDE = {"metrics": {"acc": "{task}/acc_len_norm", "task_loss": "{task}/bpb", "task_ce": "{task}/soft_log",
                    "lm_loss": "val/loss"},
        "overrides": {"boolq": {"acc": "{task}/acc"}}, "task_names": {"openbookqa": "openbook_qa"},
        "units": {"task_ce": "log_prob", "lm_loss": "bits_per_token"}, "tasks": list(TASKS)}
SHAPES = {
    "checkpoint rows, task columns (csv)": ("ladder.csv", {}, {"columns": KEYS, **WIDE}),
    "checkpoint and task rows (tsv)": ("ladder.tsv", {}, {
        "columns": {**KEYS, "task": "benchmark"}, "metrics": {"acc": "accuracy", "task_loss": "nats_per_byte"},
        "units": {"task_loss": "nats_per_byte", "acc": "percent"}, "task_names": {"openbookqa": "openbook_qa"}}),
    "one row per final model (parquet)": ("final.parquet", {}, {
        "columns": {"run": "model", "n": "n_millions", "tokens": "tokens_billions"}, **WIDE,
        "units": {"n": 1e6, "tokens": 1e9}}),
    "seeds (jsonl)": ("seeds.jsonl", {"seeds": (0, 1, 2)}, {"columns": {**KEYS, "seed": "seed"}, **WIDE}),
    "groups (parquet)": ("groups.parquet", {"groups": SWEEP_GROUPS}, {"columns": {**KEYS, "group": "recipe"}, **WIDE}),
}
COMPARED = ["n", "tokens", "flops", "task_loss", "acc", "task_ce", "lm_loss"]


def assert_recovers(m: pd.DataFrame, truth: pd.DataFrame, metrics, step: bool = True):
    truth = truth.sort_values(["run", "task", "step"]).reset_index(drop=True)
    assert m[["run", "task"]].equals(truth[["run", "task"]])
    if step:
        np.testing.assert_array_equal(m["step"], truth["step"])
    for c in [c for c in COMPARED if c in metrics or c in ("n", "tokens", "flops")]:
        np.testing.assert_allclose(m[c], truth[c], rtol=1e-12, err_msg=c)
    for c in ("seed", "group"):
        if c in truth.columns:
            assert m[c].tolist() == truth[c].tolist()


@pytest.mark.parametrize("shape", SHAPES)
def test_every_table_shape_gives_back_its_values(tmp_path, shape):
    file, options, entry = SHAPES[shape]
    truth = ladder_truth(TASKS, **SMALL, **options)
    entry = {"file": file, **entry}
    write_table(table_for(truth, entry), tmp_path / file)
    m = read_entry("ladder", entry, base_dir=tmp_path)
    final = "step" not in entry["columns"]
    if final:  # one row per run: its final checkpoint
        truth = truth[truth["step"] == truth.groupby("run")["step"].transform("max")]
    assert_recovers(m, truth, entry["metrics"], step=not final)


def test_isoflop_sweep_with_per_task_column_names(tmp_path):
    truth = isoflop_truth(TASKS, budgets=(1e19, 1e20), per_budget=3)
    assert truth.groupby("run")["step"].count().eq(len(TASKS)).all()  # one row per final model
    entry = {"file": "sweep.csv", "columns": {"run": "model", "n": "params", "tokens": "tokens", "flops": "compute",
                                              "group": "mixture"},
             "metrics": {"acc": "{task}_acc_norm", "task_loss": "{task}_bpb"}, "units": {"acc": "percent"},
             "overrides": {"boolq": {"acc": "{task}_acc"}}, "task_names": {"openbookqa": "openbook_qa"},
             "tasks": list(TASKS)}
    table = table_for(truth, entry)
    assert {"hellaswag_acc_norm", "boolq_acc", "openbook_qa_acc_norm", "openbook_qa_bpb"} <= set(table.columns)
    assert len(table) == truth["run"].nunique() and table["hellaswag_acc_norm"].max() > 1  # percent
    write_table(table, tmp_path / "sweep.csv")
    m = read_entry("sweep", entry, base_dir=tmp_path)
    assert_recovers(m, truth, entry["metrics"])
    assert sorted(m["group"].unique()) == sorted(SWEEP_GROUPS)


@pytest.mark.parametrize("samples", [True, False])
def test_lm_eval_directories_give_back_their_values(tmp_path, samples):
    truth = ladder_truth(("hellaswag", "csqa"), **SMALL, groups=["web"])
    run = truth[truth["run"] == truth["run"].iloc[0]]
    write_lm_eval_run(run, tmp_path / "run", samples=samples)
    m = read_entry("web-190M-1xC", {"file": str(tmp_path / "run"), "format": "lm_eval"})
    metrics = ["acc", "task_loss", "task_ce"] if samples else ["acc"]
    assert_recovers(m, run.assign(lm_loss=np.nan), metrics)
    absent = ["lm_loss", "acc_mc"] if samples else ["task_loss", "task_ce", "lm_loss", "acc_mc"]
    assert missing_metrics(m) == {"csqa": absent, "hellaswag": absent}


def fit_two_step(ladder: pd.DataFrame, tasks) -> pd.DataFrame:
    name, n, d = TARGET
    options = fit_options(validate({"experiment": "test"})) | {"multistart": 0}
    return run_method("two_step", paper_methods()["two_step"], ladder, {name: {"n": n, "d": d, "metrics": None}},
                      list(tasks), options, intervals(draws=0), EVIDENCE).predictions


def test_an_imported_table_predicts_the_known_target(tmp_path):
    truth = ladder_truth(("hellaswag", "piqa"), checkpoints=10, seed=1)
    entry = {"file": "ladder.parquet", "columns": KEYS, **WIDE, "tasks": ["hellaswag", "piqa"]}
    write_table(table_for(truth, entry), tmp_path / "ladder.parquet")
    predictions = fit_two_step(read_entry("ladder", entry, base_dir=tmp_path), ["hellaswag", "piqa"])
    _, n, d = TARGET
    for row in predictions.itertuples():
        loss = true_task_loss(row.task, n, d)[0]
        assert row.pred_loss == pytest.approx(loss, rel=0.02), row.task
        assert row.pred_acc == pytest.approx(true_accuracy(row.task, loss)[0], abs=0.02), row.task


def test_groups_ranked_as_their_laws_order_them(tmp_path):
    """Each recipe's ladder fitted on its own predicts the target's accuracy; the ranking is the one the recipes'
    laws give (curated, web, noisy) and every pair is in the right order."""
    truth = ladder_truth(("hellaswag",), checkpoints=8, groups=SWEEP_GROUPS, seed=2)
    entry = {"file": "groups.csv", "columns": {**KEYS, "group": "recipe"}, **WIDE, "tasks": ["hellaswag"]}
    write_table(table_for(truth, entry), tmp_path / "groups.csv")
    ladder = read_entry("groups", entry, base_dir=tmp_path)
    _, n, d = TARGET
    rows = []
    for group, runs in ladder.groupby("group"):
        prediction = fit_two_step(runs, ["hellaswag"]).iloc[0]
        actual = true_accuracy("hellaswag", true_task_loss("hellaswag", n, d, group))[0]
        rows.append(dict(prediction, group=group, actual_acc=actual))
    compared = group_comparison(pd.DataFrame(rows))
    assert compared["group"].tolist() == ["curated", "web", "noisy"]
    assert compared["decision_accuracy"].eq(1.0).all() and compared["pairs"].eq(3).all()


@pytest.mark.parametrize("kind", ["chance", "flat"])
def test_a_ladder_with_nothing_to_extrapolate_gives_no_wild_prediction(kind):
    """At chance: no law-based prediction (empty, with the reason). Flat noise above chance: every method's
    prediction stays within [chance - 5 points, the ladder's best accuracy + the calibrated half-width there]."""
    from taskladder.fit.calibration import ErrorModel
    from taskladder.fit.points import chance
    from taskladder.synthetic.coverage import config
    from taskladder.synthetic.worlds import targets, world, world_ladder

    tasks = ("hellaswag", "arc_easy", "piqa")
    rng = np.random.default_rng(5)
    worlds = {t: world(t, kind, rng) for t in tasks}
    metrics = world_ladder(worlds, seed=5)
    cfg = config(("two_step", "flops", "single_step"))
    spots = {k: dict(v, metrics=None) for k, v in targets(factors=(3, 30, 100)).items()}
    best = metrics.sort_values("step").groupby(["task", "run"]).tail(5).groupby(["task", "run"])["acc"].mean()
    best = best.groupby("task").max()
    for method in ("two_step", "flops", "single_step"):
        result = run_method(method, cfg["methods"][method], metrics, spots, list(tasks), fit_options(cfg),
                            cfg["intervals"], EVIDENCE)
        p = result.predictions
        if kind == "chance":
            assert p["pred_acc"].isna().all() and p["note"].str.startswith("at chance").all(), method
            continue
        acc = result.calibration[result.calibration.value == "acc"].set_index("task")
        for row in p.itertuples():
            m = acc.loc[row.task] if row.task in acc.index else acc.loc["(all tasks)"]
            margin = float(ErrorModel(m.floor, m.growth, m.origins, int(m.cases), m.max_distance).half_width(
                row.distance, 0.9))
            assert chance(row.task) - 0.05 - 1e-9 <= row.pred_acc <= best[row.task] + margin + 1e-9, (method, row)
