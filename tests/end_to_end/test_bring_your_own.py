"""Bring your own ladder: imported tables, lm-eval output directories, existing checkpoints and groups in the plan
and the workflow (the importers themselves: tests/imports/, tests/synthetic/test_shapes.py)."""
import copy
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import EVIDENCE, ROOT, intervals
from test_workflow import (
    SNAKEMAKE,
    planned_jobs,
    planned_outputs,
    snakemake,
)

from taskladder.analyses.groups import cell_name, compare
from taskladder.base.config import load_config, paper_methods, validate
from taskladder.base.files import write_csv
from taskladder.base.metrics_table import InputError, read_metrics
from taskladder.cli import main
from taskladder.fit.methods import FitJob, MethodResult, fit_options, run_fit_job
from taskladder.imports.sources import read_table
from taskladder.imports.tables import read_entry
from taskladder.report.page import first_page
from taskladder.synthetic.ladders import (
    SWEEP_ENTRY,
    SWEEP_GROUPS,
    ladder_truth,
    sweep_truth,
    write_sweep,
)
from taskladder.synthetic.shapes import table_for, write_lm_eval_run, write_table
from taskladder.synthetic.sweeps import write_recipe_sweep
from taskladder.synthetic.truth import (
    SIZES,
    TARGET,
    true_accuracy,
    true_task_loss,
)
from taskladder.workflow.experiment import plan

SWEEP = yaml.safe_load((ROOT / "configs" / "sweep-example.yaml").read_text())


@pytest.fixture
def sweep(tmp_path, monkeypatch):
    """A working folder with the bundled sweep and its config."""
    shutil.copytree(ROOT / "examples" / "sweep", tmp_path / "examples" / "sweep")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def sweep_config(**changes) -> dict:
    config = copy.deepcopy(SWEEP)
    config.update(changes)
    return config


def check(config: dict, folder: Path, capsys) -> tuple[int, str, str]:
    """`taskladder check` on a config: (exit status, stdout, stderr)."""
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    code = main(["check", "--configfile", str(path)])
    out = capsys.readouterr()
    return code, out.out, out.err


# ---- the plan ----------------------------------------------------------------------------------

def test_a_table_is_read_into_runs_groups_and_import_jobs(sweep):
    exp = plan(load_config(overrides=sweep_config()), warn=lambda msg: None)
    assert exp.runs.groups == ["curated", "noisy", "web"] and len(exp.runs.ladder_runs) == 48
    assert exp.runs.group_of["web-1B-10xC"] == "web" and "web-3B-5xC" not in exp.runs.ladder_runs
    # one import job per entry and group; a run's metrics are its group's table
    assert exp.imports.metrics("web-1B-10xC") == "results/sweep-example/metrics/sweep/web.csv"
    assert exp.imports.metrics_of(exp.runs.ladder_of("web")) == ["results/sweep-example/metrics/sweep/web.csv"]
    assert exp.pattern("grouped") == "sweep|sweep\\-3B" and exp.pattern("table") == "^$"
    # each group's ladder is fitted on its own; the target 3B-5xC is measured by that group's 3B run
    w = SimpleNamespace(method="two_step", group="noisy")
    assert exp.fits.fit_inputs(w) == {"ladder": ["results/sweep-example/metrics/sweep/noisy.csv"],
                                 "targets": ["results/sweep-example/metrics/sweep-3B/noisy.csv"], "others": []}
    assert exp.runs.targets["3B-5xC"].spec("noisy")["run"] == "noisy-3B-5xC" and "run" not in exp.runs.targets["7B-4T"].spec("noisy")
    assert exp.fits.tables("two_step", "noisy")["predictions"] == \
        "results/sweep-example/methods/two_step/noisy/predictions.csv"
    assert exp.layout.analysis("group_comparison") in exp.outputs
    assert "variance" not in exp.fits.analyses and exp.fits.cve_target is None  # one checkpoint per run; one ladder per group


def test_an_edited_row_changes_only_its_groups_digest(sweep):
    config = sweep_config()
    before = plan(load_config(overrides=copy.deepcopy(config)), warn=lambda msg: None).runs.tables["sweep"]
    table = pd.read_csv("examples/sweep/sweep.csv")
    table.loc[table["model"] == "web-370M-2xC", "piqa_bpb"] *= 1.01
    table.to_csv("examples/sweep/sweep.csv", index=False)
    after = plan(load_config(overrides=copy.deepcopy(config)), warn=lambda msg: None).runs.tables["sweep"]
    assert {g for g in before.digests if before.digests[g] != after.digests[g]} == {"web"}


def test_an_experiment_without_groups_keeps_its_layout():
    config = load_config(ROOT / "configs" / "synthetic.yaml")
    exp = plan(config)
    assert exp.runs.groups == [] and exp.runs.parts == [None]
    assert exp.fits.tables("two_step")["fits"] == "results/synthetic/methods/two_step/fits.csv"
    assert exp.layout.figure("two_step", "step1") == "results/synthetic/figures/two_step/step1.png"
    assert exp.imports.metrics("190M-1xC") == "results/synthetic/metrics/190M-1xC.csv"
    assert exp.fits.summary_job()["groups"] is None and "group_comparison" not in exp.fits.analyses
    assert {t.name: t.spec() for t in exp.runs.targets.values()} == {"7B-4T": {"n": TARGET[1], "d": TARGET[2], "flops": None}}


TABLE_ERRORS = {  # edit of the sweep table or config -> the message
    "percent declared as a fraction": (
        lambda t, c: c["imported"]["sweep"]["units"].update(acc="fraction"),
        r"examples/sweep/sweep\.csv: row 2, column 'hellaswag_acc_norm': accuracy above 1 but imported\.sweep\.units"
        r"\.acc is fraction"),
    "missing column": (lambda t, c: t.pop("boolq_bpb"),
                       r"examples/sweep/sweep\.csv: missing column 'boolq_bpb' for task_loss of task 'boolq'"),
    "a group name that cannot name a file": (
        lambda t, c: t.replace({"recipe": {"web": "web/v2"}}, inplace=True),
        r"examples/sweep/sweep\.csv: column group: group name 'web/v2' cannot name a file"),
    "two runs for a target in one group": (
        lambda t, c: (c["imported"]["sweep"].update(filters={"params": {"max": 1.0e9}}),
                      c["imported"]["sweep-3B"].update(filters={"params": {"min": 1.0e9}})),
        r"targets\.3B-5xC\.imported: imported\.sweep-3B holds 5 runs of group curated \(\['curated-1B-10xC', "
        r".*\]\); expected one run per group: the target's own"),
    "a target's entry that is a ladder": (lambda t, c: c["targets"]["3B-5xC"].update(imported="sweep"),
                                          r"targets\.3B-5xC\.imported: 'sweep' is not an imported table with ladder: "
                                          r"false; such entries: \['sweep-3B'\]"),
    "ladder runs with and without groups": (
        lambda t, c: (c["targets"].pop("3B-5xC"), c["imported"]["sweep-3B"].update(
            ladder=True, columns={k: v for k, v in c["imported"]["sweep"]["columns"].items() if k != "group"})),
        r"groups: ladder runs \['curated-3B-5xC', 'noisy-3B-5xC', 'web-3B-5xC'\] have no group, while others are "
        r"in groups \['curated', 'noisy', 'web'\]; give every ladder run a group"),
}


@pytest.mark.parametrize("case", sorted(TABLE_ERRORS))
def test_bad_tables_stop_before_any_job(case, sweep, capsys):
    """Checked when the plan is made (taskladder check runs the Snakefile's checks): one line naming the file, row
    and column, or the key."""
    edit, message = TABLE_ERRORS[case]
    table, config = pd.read_csv("examples/sweep/sweep.csv"), sweep_config()
    edit(table, config)
    table.to_csv("examples/sweep/sweep.csv", index=False)
    code, _, err = check(config, sweep, capsys)
    assert code == 2 and re.search(message, err), err


def test_a_run_in_two_groups(tmp_path):
    truth = ladder_truth(("piqa",), sizes={"190M": SIZES["190M"]}, multiples=(1,), checkpoints=2, groups=("web",))
    truth.loc[truth.index[-1], "group"] = "curated"
    entry = {"file": "t.csv", "columns": {"run": "run", "n": "n", "tokens": "tokens", "step": "step", "group": "g"},
             "metrics": {"acc": "{task}_acc", "task_loss": "{task}_bpb"}, "tasks": ["piqa"]}
    write_table(table_for(truth, entry), tmp_path / "t.csv")
    with pytest.raises(InputError, match=r"t\.csv: run 'web-190M-1xC' is in groups \['curated', 'web'\]; expected "
                                         "one group per run"):
        read_table("t", entry, {"olmo_ladder_dir": str(tmp_path)})


def test_snakemake_stops_before_any_job_on_a_bad_table(sweep):
    config = sweep_config()
    config["imported"]["sweep"]["units"]["acc"] = "fraction"
    (sweep / "bad.yaml").write_text(yaml.safe_dump(config))
    proc = subprocess.run([*SNAKEMAKE, "--directory", sweep, "--cores", "1", "--configfile", sweep / "bad.yaml"],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "column 'hellaswag_acc_norm': accuracy above 1" in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and not (sweep / "results").exists()


# ---- accuracy only ------------------------------------------------------------------------------

def lm_eval_ladder(folder: Path, samples: bool) -> dict:
    """Eight runs as lm-eval output directories (one entry each: more than single_step's seven parameters);
    returns the `imported` block."""
    truth = ladder_truth(("hellaswag",), sizes=SIZES, multiples=(1, 5), checkpoints=3)
    imported = {}
    for run, rows in truth.groupby("run"):
        write_lm_eval_run(rows, folder / run, samples=samples)
        imported[run] = {"file": str(folder / run), "format": "lm_eval"}
    return imported


def test_a_source_of_accuracy_only_feeds_only_the_methods_that_need_no_task_loss(tmp_path, capsys):
    config = {"experiment": "acc-only", "imported": lm_eval_ladder(tmp_path, samples=False),
              "fit": {"tasks": ["hellaswag"]}}
    code, _, err = check(config, tmp_path, capsys)
    assert code == 2 and re.search(r"methods\.two_step: task hellaswag: needs task_loss, which imported\.190M-1xC "
                                   r"\(.*190M-1xC\) does not hold; methods that fit accuracy alone \(single_step\)",
                                   err), err
    config["methods"] = {"single_step": {}}
    code, out, err = check(config, tmp_path, capsys)
    assert code == 0 and "8 ladder runs, all imported" in out, err


def test_metrics_of_accuracy_only_are_read_and_fitted_by_what_needs_no_task_loss(tmp_path):
    """The metrics contract takes a run and task without task loss; single_step fits it, two_step stops at its
    fit with one line naming the method, task and metric; a run with some task losses missing is an error."""
    truth = ladder_truth(("piqa",), checkpoints=6).assign(task_loss=np.nan, task_ce=np.nan, lm_loss=np.nan)
    write_csv(truth, tmp_path / "ladder.csv")
    assert read_metrics(tmp_path / "ladder.csv")["task_loss"].isna().all()
    options = fit_options(validate({"experiment": "test"})) | {"multistart": 0}
    targets = {"7B-4T": {"n": TARGET[1], "d": TARGET[2], "flops": None}}
    out = {t: tmp_path / f"{t}.csv" for t in MethodResult.TABLES}

    def job(method: str) -> FitJob:
        return FitJob(method, paper_methods()[method], ["piqa"], options, intervals(draws=0), EVIDENCE, targets)

    result = run_fit_job(job("single_step"), [tmp_path / "ladder.csv"], [], [], out)
    assert result.predictions["pred_acc"].between(0, 1).all()
    two_step = run_fit_job(job("two_step"), [tmp_path / "ladder.csv"], [], [], out)  # a row saying why, no fit
    assert re.match(r"method two_step, task piqa: no task loss \(task_loss\) in the metrics of run 190M-1xC; this "
                    r"method needs it", two_step.predictions["note"][0]) and two_step.fits.empty
    truth.loc[truth.index[3], "task_loss"] = 1.0
    write_csv(truth, tmp_path / "ladder.csv")
    with pytest.raises(ValueError, match=r"ladder.csv: row 2, column 'task_loss': expected a number, found ''"):
        read_metrics(tmp_path / "ladder.csv")


# ---- existing checkpoints ------------------------------------------------------------------------

def fake_checkpoint(folder: Path) -> str:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    return str(folder)


def checkpoints_config(tmp_path, runs: int = 6, **item) -> dict:
    items = [{"run": f"r{k}", "n": 1000 * (1 + k // 3), "tokens": 100 * (1 + k % 3), "step": 10,
              "path": fake_checkpoint(tmp_path / f"ck{k}")} for k in range(runs)]
    items[0].update(item)
    return {"experiment": "ck", "checkpoints": items, "evaluation": {"tasks": ["piqa"], "limit": 4, "num_shots": 0},
            "fit": {"tasks": ["piqa"]}}


def test_existing_checkpoints_are_evaluated_as_rungs(tmp_path, capsys):
    config = checkpoints_config(tmp_path)
    config["checkpoints"].append({"run": "big", "n": 5000, "tokens": 900, "step": 90,
                                  "hub": "org/model", "revision": "step90"})
    config["targets"] = {"big": {"n": 5000, "d": 900}}
    warnings = []
    exp = plan(load_config(overrides=config), warn=warnings.append)
    assert warnings == ["analyses.variance: not run: the ladder's runs have at most 1 checkpoint(s), fewer than "
                        "analyses.variance.last = 10"]
    assert exp.runs.ladder_runs == [f"r{k}" for k in range(6)] and exp.train.runs == [] and exp.train.final_checkpoints == []
    assert exp.train.evaluated_runs == [*exp.runs.ladder_runs, "big"] and exp.runs.targets["big"].runs == {None: "big"}
    w = SimpleNamespace(run="r0", step="0000010")
    assert exp.train.link_job(w) == {"path": str(tmp_path / "ck0"),
                                      "info": {"run": "r0", "n": 1000, "step": 10, "tokens": 100}}
    assert exp.train.link_input(w) == [str(tmp_path / "ck0")] and exp.evaluation.val_input(w) == []  # no LM loss
    assert exp.train.link_input(SimpleNamespace(run="big", step="0000090")) == []  # a hub checkpoint
    assert exp.evaluation.chunk_inputs(SimpleNamespace(run="r0", chunk="step0000010-0000010")) == [exp.layout.checkpoint("r0", 10)]
    assert exp.fits.fit_inputs(SimpleNamespace(method="two_step"))["targets"] == [exp.imports.metrics("big")]
    config["methods"] = {"lm_loss": {}}
    code, _, err = check(config, tmp_path, capsys)
    assert code == 2 and "methods.lm_loss: needs lm_loss (the LM loss), which existing checkpoints" in err, err
    config["methods"], config["targets"]["big"]["file"] = {"two_step": {}}, "big.csv"
    code, _, err = check(config, tmp_path, capsys)
    assert code == 2 and "targets.big: measured by file and checkpoints; give one" in err, err
    del config["targets"]["big"]["file"]
    config["evaluation"] = {"tasks": ["corpus_cloze", "piqa"]}
    code, _, err = check(config, tmp_path, capsys)
    assert code == 2 and "evaluation.tasks: ['corpus_cloze'] are built from documents the ladder's corpus" in err, err


BAD_CHECKPOINTS = {  # a change of the first two items (r0, r1) -> the message
    "path not a model": ([{"path": "/nonexistent/ck"}, {}],
                         r"checkpoints\[0\]\.path: /nonexistent/ck: no such directory; expected a save_pretrained "
                         "model directory"),
    "path and hub": ([{"hub": "org/model"}, {}], r"checkpoints\[0\]: give path .* or hub .*, not both"),
    "two sizes in one run": ([{}, {"run": "r0", "step": 20, "n": 3000}],
                             r"checkpoints\[1\]: run r0 has n = 3000, group None here but n = 1000, group None in an "
                             "earlier checkpoint; expected one n and group per run"),
    "tokens going down": ([{"tokens": 500}, {"run": "r0", "n": 1000, "step": 20}],
                          r"checkpoints: run r0: tokens go down from 500 at step 10 to 200 at step 20"),
    "a step twice": ([{}, {"run": "r0", "n": 1000}], r"checkpoints\[1\]: run r0 lists step 10 twice"),
}


@pytest.mark.parametrize("case", sorted(BAD_CHECKPOINTS))
def test_bad_checkpoints(tmp_path, capsys, case):
    changes, expected = BAD_CHECKPOINTS[case]
    config = checkpoints_config(tmp_path)
    for item, change in zip(config["checkpoints"], changes):
        item.update(change)
    code, _, err = check(config, tmp_path, capsys)
    assert code == 2 and re.search(expected, err), err


# ---- groups ---------------------------------------------------------------------------------------

def test_groups_of_run_logs_and_of_checkpoints(tmp_path):
    """A `group` key of a run log or of existing checkpoints splits the ladder too."""
    config = load_config(ROOT / "configs" / "synthetic.yaml")
    for name, entry in config["imported"].items():
        entry["group"] = "a" if name.startswith(("190M", "760M")) else "b"
    exp = plan(config)
    assert exp.runs.groups == ["a", "b"] and exp.runs.ladder_of("b")[0] == "370M-1xC"
    assert exp.fits.summary_job()["groups"]["a"] == exp.runs.ladder_of("a") and len(exp.runs.ladder_of("a")) == 8
    assert exp.fits.fit_inputs(SimpleNamespace(method="two_step", group="a"))["targets"] == [exp.imports.metrics("7B-4T")]
    config = checkpoints_config(tmp_path, runs=12)  # 6 runs a group: more than two_step's 5 parameters
    for k, item in enumerate(config["checkpoints"]):
        item["group"] = "x" if k % 2 else "y"
    exp = plan(load_config(overrides=config), warn=lambda msg: None)
    assert exp.runs.groups == ["x", "y"] and exp.runs.ladder_of("x") == ["r1", "r3", "r5", "r7", "r9", "r11"]
    assert exp.fits.tables("two_step", "x")["fits"] == "results/ck/methods/two_step/x/fits.csv"


def test_groups_compared_at_targets_and_at_the_ladders_largest_size():
    predictions = pd.DataFrame({"method": "m", "task": "piqa", "target": "7B", "n": 7e9, "d": 1e12,
                                "group": ["a", "b", "c"], "pred_acc": [0.6, 0.7, 0.65], "pred_lo": 0.5,
                                "pred_hi": 0.8, "actual_acc": np.nan})
    # backtests: each group's largest size (n = 2) at two D; seeds of one cell averaged; smaller sizes left out
    backtest = pd.DataFrame({"method": "m", "task": "piqa", "group": ["a", "a", "a", "b", "b", "c", "c", "a"],
                             "n": [2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.0], "d": [10, 10, 20, 10, 20, 10, 20, 10],
                             "pred": [0.5, 0.5, 0.6, 0.55, 0.65, 0.52, 0.7, 0.1],
                             "lo": 0.4, "hi": 0.8, "actual": [0.50, 0.54, 0.62, 0.56, 0.61, 0.49, 0.66, 0.1],
                             "fitted_max_n": 1.0})
    table = compare(predictions, backtest)
    targets = table[table["source"] == "target"]
    assert targets["group"].tolist() == ["b", "c", "a"] and targets["decision_accuracy"].isna().all()
    small = table[table["target"] == cell_name(2.0, 10)].set_index("group")
    assert small.loc["a", "actual_acc"] == pytest.approx(0.52)  # two seeds of one cell: their mean
    # predicted b > c > a, actual b > a > c: (b, c) and (b, a) right, (c, a) wrong
    assert small["decision_accuracy"].iloc[0] == pytest.approx(2 / 3) and small["pairs"].iloc[0] == 3
    large = table[table["target"] == cell_name(2.0, 20)]
    assert large["decision_accuracy"].iloc[0] == pytest.approx(2 / 3)  # predicted c > b > a, actual c > a > b
    assert set(table["target"]) == {"7B", cell_name(2.0, 10), cell_name(2.0, 20)}
    assert list(table.columns[:2]) == ["source", "method"] and {"n", "d"} <= set(table.columns)


def test_report_page_with_groups(tmp_path):
    predictions = pd.DataFrame({"method": "m", "target": "7B", "task": "piqa", "group": ["web", "curated"],
                                "pred_acc": [0.6, 0.7], "actual_acc": np.nan})
    page = first_page(predictions, "m", [], "x")
    assert "<th>group</th>" in page and page.index("<td>curated</td>") < page.index("<td>web</td>")


def test_the_bundled_sweep_is_the_synthetic_writers(tmp_path):
    """examples/sweep/sweep.csv is what write_sweep writes (to the float path's precision); every group's 3B row
    holds its truth."""
    bundled = pd.read_csv(ROOT / "examples" / "sweep" / "sweep.csv")
    written = pd.read_csv(write_sweep(tmp_path))
    assert bundled.columns.tolist() == written.columns.tolist()
    numbers = bundled.select_dtypes("number").columns
    assert bundled.drop(columns=numbers).equals(written.drop(columns=numbers))
    np.testing.assert_allclose(bundled[numbers], written[numbers], rtol=1e-5)
    read = read_entry("sweep", {"file": "sweep.csv", **SWEEP_ENTRY}, base_dir=tmp_path)
    assert sorted(read["group"].unique()) == sorted(SWEEP_GROUPS) and read["run"].nunique() == sweep_truth()["run"].nunique()


# ---- through the workflow (slow) --------------------------------------------------------------------

def planned_parts(workdir: Path, args) -> tuple[set, set]:
    """(import jobs as entry/group, groups whose fit is planned) of a dry run."""
    outputs = planned_outputs(workdir, *args)
    imports = {"/".join(Path(p).parts[-2:]).removesuffix(".csv") for p in outputs if "/metrics/" in p}
    fits = {Path(p).parent.name for p in outputs if p.endswith("/fits.csv") and "/methods/" in p}
    return imports, fits


@pytest.mark.slow
def test_the_sweep_example_ranks_its_recipes_and_reruns_only_what_an_edit_touches(tmp_path):
    """configs/sweep-example.yaml as shipped: each recipe's ladder predicts both targets, the ranking is the one the
    recipes' laws give, with decision accuracy 1 where the 3B models measured it. Then edits of the table, as a dry
    run plans them: an edited row reruns its group's import and fit only, a new run its group's, a new group only
    its own; a removed target measurement its group's fit; a new target every fit (each predicts it)."""
    shutil.copytree(ROOT / "examples" / "sweep", tmp_path / "examples" / "sweep")
    args = ["--configfile", str(ROOT / "configs" / "sweep-example.yaml")]
    start = time.perf_counter()
    snakemake(tmp_path, *args)
    print(f"sweep example: {time.perf_counter() - start:.1f} s")
    results = tmp_path / "results" / "sweep-example"
    predictions = pd.read_csv(results / "predictions.csv")
    assert set(predictions["group"]) == set(SWEEP_GROUPS) and len(predictions) == len(SWEEP_GROUPS) * 2 * 5
    truth = sweep_truth().set_index(["run", "task"])
    for row in predictions.itertuples():
        n, d = row.n, row.d
        true = true_accuracy(row.task, true_task_loss(row.task, n, d, row.group))[0]
        assert row.pred_acc == pytest.approx(true, abs=0.05), row
        if row.target == "3B-5xC":  # measured: that recipe's own 3B row
            assert row.actual_acc == pytest.approx(truth.loc[(f"{row.group}-3B-5xC", row.task), "acc"], abs=1e-7)
    compared = pd.read_csv(results / "analyses" / "group_comparison.csv")
    for (source, target, task), rows in compared.groupby(["source", "target", "task"]):
        assert rows["group"].tolist() == ["curated", "web", "noisy"], (source, target, task)
    measured = compared[compared["target"] == "3B-5xC"]
    assert measured["decision_accuracy"].eq(1).all() and measured["pairs"].eq(3).all()
    assert compared.loc[compared["source"] == "backtest", "decision_accuracy"].notna().all()
    assert (results / "analyses" / "group_comparison.png").stat().st_size > 20_000
    assert (results / "figures" / "two_step" / "web" / "chained.png").exists()
    assert planned_jobs(tmp_path, *args) == {}

    table_path = tmp_path / "examples" / "sweep" / "sweep.csv"
    original = table_path.read_text()

    def after(edit, config_edit=None) -> tuple[set, set]:
        table = pd.read_csv(table_path)
        table = edit(table) if edit else table
        table.to_csv(table_path, index=False)
        run_args = args
        if config_edit:
            config = copy.deepcopy(SWEEP)
            config_edit(config)
            (tmp_path / "edited.yaml").write_text(yaml.safe_dump(config))
            run_args = ["--configfile", str(tmp_path / "edited.yaml")]
        try:
            return planned_parts(tmp_path, run_args)
        finally:
            table_path.write_text(original)

    def edit_row(t):
        t.loc[t["model"] == "web-370M-2xC", "piqa_bpb"] *= 1.01
        return t

    def add_run(t):
        row = t[t["model"] == "noisy-1B-10xC"].assign(model="noisy-1B-20xC", tokens=lambda f: 2 * f["tokens"])
        return pd.concat([t, row])

    def add_group(t):
        rows = t[t["recipe"] == "web"].assign(recipe="fresh", model=lambda f: f["model"].str.replace("web", "fresh"))
        return pd.concat([t, rows])

    assert after(edit_row) == ({"sweep/web"}, {"web"})
    assert after(add_run) == ({"sweep/noisy"}, {"noisy"})
    assert after(add_group) == ({"sweep/fresh", "sweep-3B/fresh"}, {"fresh"})
    assert after(lambda t: t[t["model"] != "web-3B-5xC"]) == (set(), {"web"})
    assert after(None, lambda c: c["targets"].update({"13B": {"n": 13_000_000_000, "d": 5_000_000_000_000}})) == (
        set(), set(SWEEP_GROUPS))
    assert planned_jobs(tmp_path, *args) == {}  # the table as it was: nothing to do


def shapes_ladder(folder: Path, tasks) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """A ladder from known laws split into every shape the importer reads, and a target measured by lm-eval without
    samples; returns (the `imported` block, the ladder's truth, the target's truth)."""
    truth = ladder_truth(tasks, checkpoints=6, seed=4)
    part = lambda size: truth[truth["run"].str.startswith(f"{size}-")]  # noqa: E731
    keys = {"run": "run", "n": "params", "tokens": "tokens", "step": "step"}
    wide = {"metrics": {"acc": "{task}/acc_len_norm", "task_loss": "{task}/bpb", "task_ce": "{task}/soft_log",
                        "lm_loss": "val/loss"}, "overrides": {"piqa": {"acc": "{task}/acc"}},
            "units": {"task_ce": "log_prob", "lm_loss": "bits_per_token"}, "tasks": list(tasks)}
    entries = {
        "long": ("long.csv", part("190M")[lambda f: f["run"] != "190M-1xC"], {"columns": keys, **wide}),
        "tasks-long": ("tasks-long.tsv", part("370M"), {
            "columns": {**keys, "task": "benchmark"}, "metrics": {"acc": "accuracy", "task_loss": "loss"},
            "units": {"task_loss": "nats_per_byte", "acc": "percent"}, "task_names": {"hellaswag": "hella_swag"}}),
        "final": ("final.parquet", part("760M"), {"columns": {"run": "model", "n": "n_millions", "tokens": "tokens"},
                                                   **wide, "units": {"n": 1e6}}),
    }
    imported = {}
    for name, (file, rows, entry) in entries.items():
        entry = {"file": file, **entry}
        write_table(table_for(rows, entry), folder / file)
        imported[name] = entry
    # a W&B history export of one run: evaluations every other logged step
    run = truth[truth["run"] == "190M-1xC"]
    imported["190M-1xC"] = {"file": "wandb.csv", "preset": "wandb", "n": int(run["n"].iloc[0]),
                            "tokens_per_step": 4 * 1024 * 1024, **wide}
    export = table_for(run, imported["190M-1xC"])
    training = pd.DataFrame({"_step": export["_step"] - 1, "train/loss": 3.0})
    pd.concat([export, training]).sort_values("_step").to_csv(folder / "wandb.csv", index=False)
    # 1B: two seeds of each run (JSONL), but 1B-10xC, an lm-eval output directory with samples
    seeds = ladder_truth(tasks, sizes={"1B": SIZES["1B"]}, multiples=(1, 2, 5), checkpoints=6, seeds=(0, 1), seed=5)
    write_table(table_for(seeds, {"file": "s.jsonl", "columns": {**keys, "seed": "seed"}, **wide}), folder / "s.jsonl")
    imported["seeds"] = {"file": "s.jsonl", "columns": {**keys, "seed": "seed", "run": ["run"]}, **wide}
    write_lm_eval_run(truth[truth["run"] == "1B-10xC"], folder / "1B-10xC", samples=True)
    imported["1B-10xC"] = {"file": "1B-10xC", "format": "lm_eval"}
    name, n, d = TARGET
    target = ladder_truth(tasks, sizes={name: n}, multiples=(d / (20 * n),), checkpoints=2, seed=6).assign(run=name)
    write_lm_eval_run(target, folder / "7B-4T-evals", samples=False)
    imported["7B-4T-evals"] = {"file": "7B-4T-evals", "format": "lm_eval", "ladder": False}
    ladder = pd.concat([truth[~truth["run"].str.startswith("1B-") | (truth["run"] == "1B-10xC")], seeds])
    return imported, ladder, target


@pytest.mark.slow
def test_a_recipe_that_never_learns_a_task_is_a_flagged_row_not_a_failed_workflow(tmp_path):
    """A sweep of finished models (one checkpoint per run) in which the code recipe stays at chance on ARC-Challenge:
    the workflow completes without --keep-going; that recipe's rows for that task carry at_chance and no prediction
    in every method, the ensemble included, and the ranking leaves them out with a note (and, one group left, names no winner)."""
    spec = write_recipe_sweep(tmp_path / "sweep.csv", groups=("web", "code"), sizes=8,
                              tasks=("hellaswag", "arc_challenge"))
    config = {"experiment": "sweep", "imported": {"sweep": {**spec, "file": "sweep.csv"}},
              "targets": {"7B-1.4T": {"n": 7_000_000_000, "d": 1_400_000_000_000}},
              "fit": {"tasks": ["hellaswag", "arc_challenge"]}, "intervals": {"draws": 50},
              "methods": {m: {} for m in ("two_step", "flops", "lm_loss", "single_step", "flp", "ensemble")}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake(tmp_path, "--configfile", str(tmp_path / "config.yaml"))  # no --keep-going
    results = tmp_path / "results" / "sweep"
    predictions = pd.read_csv(results / "predictions.csv")
    code = predictions[(predictions["group"] == "code") & (predictions["task"] == "arc_challenge")]
    assert set(code["method"]) == set(config["methods"])
    assert code["flags"].str.contains("at_chance").all() and code["pred_acc"].isna().all(), code
    others = predictions.drop(code.index)
    assert not others["flags"].fillna("").str.contains("at_chance").any()
    assert others["pred_acc"].between(0, 1).all()
    ranking = pd.read_csv(results / "analyses" / "group_ranking.csv").set_index(["method", "task"])
    for method in config["methods"]:
        row = ranking.loc[(method, "arc_challenge")]
        # one group left: nothing to rank it against, so no winner and no margin, and the note says why
        assert pd.isna(row["winner"]) and row["left_out"] == "code" and "only web can be ranked" in row["note"], row
        assert "at_chance" in row["note"], row
        assert ranking.loc[(method, "hellaswag"), "winner"] == "web"  # the better recipe, ranked


@pytest.mark.slow
def test_every_table_shape_through_the_workflow(tmp_path):
    """One ladder from known laws imported from a CSV with task columns, a W&B history export, a TSV with a task
    column, a parquet table of final models, a JSONL table of seeds and an lm-eval directory with samples; the
    target measured by an lm-eval directory without samples. The workflow's metrics hold the known values, and the
    prediction is the known one."""
    tasks = ("hellaswag", "piqa")
    imported, ladder, target = shapes_ladder(tmp_path, tasks)
    name, n, d = TARGET
    config = {"experiment": "shapes", "imported": imported, "targets": {name: {"n": n, "d": d, "imported": "7B-4T-evals"}},
              "fit": {"tasks": list(tasks), "multistart": 0}, "intervals": {"draws": 0},
              "analyses": {"variance": {"last": 3}, "compute_vs_error": {"orders": ["n"]}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    start = time.perf_counter()
    snakemake(tmp_path, "--configfile", str(tmp_path / "config.yaml"))
    print(f"every table shape: {time.perf_counter() - start:.1f} s")
    results = tmp_path / "results" / "shapes"
    metrics = read_metrics(sorted((results / "metrics").glob("*.csv"))).sort_values(["run", "task", "step"])
    final = ladder[ladder["run"].str.startswith("760M-")]  # one row per final model
    expected = pd.concat([ladder[~ladder["run"].str.startswith("760M-")],
                          final[final["step"] == final.groupby("run")["step"].transform("max")],
                          target.assign(run="7B-4T-evals", task_loss=np.nan)])  # lm-eval without samples: no loss
    expected = expected.sort_values(["run", "task", "step"])
    assert metrics["run"].tolist() == expected["run"].tolist()
    for column in ("tokens", "acc", "task_loss"):
        np.testing.assert_allclose(metrics[column], expected[column], rtol=1e-9, err_msg=column)
    predictions = pd.read_csv(results / "predictions.csv").set_index("task")
    for task in tasks:
        loss = true_task_loss(task, n, d)[0]
        assert predictions.loc[task, "pred_loss"] == pytest.approx(loss, rel=0.02), task
        assert predictions.loc[task, "pred_acc"] == pytest.approx(true_accuracy(task, loss)[0], abs=0.02), task
        actual = target[target["task"] == task]["acc"].mean()  # lm-eval without samples: accuracy only
        assert predictions.loc[task, "actual_acc"] == pytest.approx(actual)
        assert np.isnan(predictions.loc[task, "actual_loss"])
    assert (results / "analyses" / "variance.csv").exists() and (results / "analyses" / "compute_vs_error.csv").exists()


@pytest.mark.slow
def test_existing_checkpoints_through_the_workflow(tmp_path):
    """Six save_pretrained checkpoints written here, listed under `checkpoints`: each is evaluated by the
    evaluation rules to the numbers a direct evaluation of its directory gives, and the ladder is fitted; re-saving
    one checkpoint re-evaluates that run only."""
    from taskladder.evaluate.checkpoint import (
        evaluate_checkpoint,
        write_random_checkpoint,
    )

    items = []
    for d_model, size in ((16, "s"), (24, "m")):
        for k, tokens in enumerate((1000, 2000, 4000)):
            path = write_random_checkpoint(tmp_path / "ckpts" / f"{size}{k}", d_model=d_model, n_layers=1, n_heads=2,
                                           seq_len=128, seed=k)
            info = json.loads((path / "taskladder.json").read_text())
            items.append({"run": f"{size}{k}", "n": info["n"], "tokens": tokens, "step": 10 * (k + 1),
                          "path": str(path)})
    config = {"experiment": "ck", "checkpoints": items, "targets": {"big": {"n": 10 * items[-1]["n"], "d": 40000}},
              "fit": {"tasks": ["piqa"], "multistart": 0},
              "evaluation": {"tasks": ["piqa"], "limit": 4, "num_shots": 0, "overflow": "truncate"},
              "intervals": {"draws": 0}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    args = ["--configfile", str(tmp_path / "config.yaml")]
    start = time.perf_counter()
    snakemake(tmp_path, *args)
    print(f"existing checkpoints: {time.perf_counter() - start:.1f} s")
    results = tmp_path / "results" / "ck"
    direct = evaluate_checkpoint(tmp_path / "ckpts" / "m2", [results / "tasks" / "piqa.jsonl"])
    linked = pd.read_csv(results / "metrics" / "m2.csv")
    assert linked[["run", "n", "step", "tokens"]].iloc[0].tolist() == ["m2", items[5]["n"], 30, 4000]
    for column in ("task_loss", "acc", "task_ce"):
        assert linked[column].iloc[0] == pytest.approx(direct[column].iloc[0], rel=1e-6), column
    assert linked["lm_loss"].isna().all()  # no corpus in the checkpoint's tokenizer
    predictions = pd.read_csv(results / "predictions.csv")
    assert predictions[["method", "target"]].values.tolist() == [["two_step", "big"]]
    assert (results / "figures" / "two_step" / "step1.png").exists()
    assert (tmp_path / "ckpts" / "m2" / "config.json").exists()  # the user's files are untouched
    assert planned_jobs(tmp_path, *args) == {}
    time.sleep(0.01)
    (tmp_path / "ckpts" / "s1" / "README.md").write_text("re-saved\n")  # the directory changed
    jobs = planned_jobs(tmp_path, *args)
    assert {k: jobs[k] for k in ("link_checkpoint", "evaluate", "collect_metrics")} == {
        "link_checkpoint": 1, "evaluate": 1, "collect_metrics": 1}
