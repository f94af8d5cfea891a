"""Bad inputs end with one clear message and a non-zero exit, and change no existing output.

Each case runs what a user runs: `taskladder check` (the checks the Snakefile makes before any job),
`taskladder fit` / `taskladder import` in-process, `snakemake --dry-run`, or (one case) a workflow job.
Each asserts the exit status, that the message names the file, key or row and what was expected, and
that the files already in the working folder (earlier results) are unchanged.
"""
import copy
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT

from taskladder.cli import main

SMOKE = yaml.safe_load((ROOT / "configs" / "smoke.yaml").read_text())
SNAKEMAKE = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--cores", "1"]


def snapshot(folder: Path) -> dict:
    return {p: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A working folder with earlier results in it; yields it and checks that they are unchanged."""
    monkeypatch.chdir(tmp_path)
    earlier = tmp_path / "results" / "smoke"
    earlier.mkdir(parents=True)
    (earlier / "predictions.csv").write_text("method,task,target\ntwo_step,piqa,t1\n")
    before = snapshot(tmp_path)
    yield tmp_path
    after = snapshot(tmp_path)
    assert {p: after.get(p) for p in before} == before, "an existing file was changed"


def run_cli(argv, capsys) -> tuple[int, str]:
    """`taskladder ARGV` in this process: (exit status, what it printed to stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse's usage errors
        code = e.code
    return code, capsys.readouterr().err


def changed(**keys):
    """The smoke config with `keys` set (a__b__c = nested key a.b.c)."""
    config = copy.deepcopy(SMOKE)
    for dotted, value in keys.items():
        *parents, last = dotted.split("__")
        node = config
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return config


# ---- configs: checked before any job (taskladder check runs the Snakefile's checks) -------------

CONFIGS = {
    "unknown key": (changed(ladderr={}), r"\(top level\): Additional properties are not allowed \('ladderr'"),
    "unknown nested key": (changed(ladder__sizes__s1__d_modle=16),
                           r"ladder\.sizes\.s1: Additional properties are not allowed \('d_modle'"),
    "negative size": (changed(ladder__sizes__s1__d_model=-16), r"ladder\.sizes\.s1\.d_model: -16 is less than the minimum"),
    "empty ladder": (changed(ladder__sizes={}), r"ladder\.sizes: \{\} should be non-empty"),
    "no data multiple": (changed(ladder__xc=[]), r"ladder\.xc: \[\] should be non-empty"),
    "heads do not divide d_model": (changed(ladder__sizes__s1__n_heads=5),
                                    r"ladder\.sizes\.s1: d_model 16 is not divisible by n_heads 5"),
    "target of an unknown size": (changed(ladder__targets={"big": {"size": "s9", "xc": 1}}),
                                  r"ladder\.targets\.big: size 's9' not in ladder\.sizes"),
    "too many shots": (changed(evaluation__num_shots=7), r"evaluation\.num_shots: 7 is greater than the maximum of 5"),
    "unknown law": (changed(methods={"m": {"step1": {"law": "quadratic"}}}), r"methods\.m\.step1\.law: 'quadratic' is not one of"),
    "wrong type": (changed(ladder__seq_len="long"), r"ladder\.seq_len: 'long' is not of type 'integer'"),
    "integer key given a fraction": (changed(targets={"big": {"n": 6.95e9 + 0.5, "d": 1e12}}),
                                     r"targets\.big\.n: 6950000000\.5 is not of type 'integer'"),
    "checkpoint_every above a run's steps": (changed(ladder__checkpoint_every=500),
                                             r"ladder\.checkpoint_every: 500 steps between checkpoints is more than "
                                             r"the \d+ steps of run s1-0\.1xC; expected at most \d+"),
    "batch larger than a rung's D": (changed(ladder__seq_len=10_000_000),
                                     r"ladder\.sizes\.s1: run s1-0\.1xC: a batch of 4 x 10000000 = 40000000 tokens is "
                                     r"more than the run's D = \d+ tokens; expected at most D"),
    "start of the wrong length": (changed(methods={"m": {"step1": {"law": "power_nd", "start": [1, 2, 3]}}}),
                                  r"methods\.m\.step1\.start: 3 values; expected 5, one per parameter of power_nd"),
    "analysis of an unknown run": (changed(analyses__variance__run="s9-1xC"),
                                   r"analyses\.variance\.run: 's9-1xC' is not a ladder run; expected one of "
                                   r"\['s1-0\.1xC'"),
    "analysis of an unknown method": (changed(analyses__compute_vs_error__method="taskce"),
                                      r"analyses\.compute_vs_error\.method: 'taskce' is not among the methods that fit laws"),
    "analysis of an unmeasured target": (changed(analyses__compute_vs_error__target="7B"),
                                         r"analyses\.compute_vs_error\.target: '7B' is not a target with measurements"),
    "pretrained tokenizer not found": (changed(tokenizer={"kind": "pretrained", "path": "/nonexistent/tok"}),
                                       r"tokenizer\.path: /nonexistent/tok: no such folder; expected a tokenizer "
                                       "folder or a hub name"),
    "tokenizer file not found": (changed(tokenizer={"kind": "file", "path": "/nonexistent/tokenizer.json"}),
                                 r"tokenizer\.path: file not found: /nonexistent/tokenizer\.json"),
    "corpus files not found": (changed(corpus__sources=[{"kind": "jsonl", "path": "/nonexistent/docs-*.jsonl"}]),
                               r"corpus\.sources\[0\]\.path: no files match '/nonexistent/docs-\*\.jsonl'"),
    "unknown evaluation task": (changed(evaluation__tasks=["hellaswagg"]),
                                r"evaluation\.tasks: unknown task name\(s\) \['hellaswagg'\]"),
    "corpus_cloze with no held-out documents": (
        changed(evaluation__tasks=["corpus_cloze", "piqa"], corpus__heldout_docs=0),
        r"corpus\.heldout_docs: 0, but evaluation\.tasks has corpus_cloze"),
    "corpus_cloze longer than the held-out documents": (
        changed(evaluation__tasks=["corpus_cloze", "piqa"], corpus__heldout_tokens=16),
        r"corpus\.heldout_tokens: 16, fewer than corpus_cloze's context_tokens \+ continuation_tokens = 113"),
    "fit task not evaluated": (changed(fit__tasks=["piqa", "boolq"]), r"fit\.tasks: unknown task\(s\) \['boolq'\]"),
    "duplicate rung names": (changed(ladder__xc=[0.1, 0.10, 0.2]), r"ladder: run names used twice: \['s1-0\.1xC'"),
    "target without d": (changed(targets={"7B": {"n": 6887575552}}), r"targets\.7B: missing d"),
    "final checkpoints only, one job per checkpoint": (
        changed(train={"job": "checkpoint", "keep_checkpoints": "final"}),
        r"train\.keep_checkpoints: final deletes intermediate checkpoints, which train\.job: checkpoint keeps"),
    "imports without a log folder": (changed(imported={"190M-1xC": {"file": "190M-1xC.csv", "n": 190354176}}),
                                     r"olmo_ladder_dir: not set"),
    "log folder not found": (changed(olmo_ladder_dir="/nonexistent", imported={"r": {"file": "r.csv", "n": 5}}),
                             r"olmo_ladder_dir: directory not found: /nonexistent"),
    "target named like a rung": (changed(targets={"s1-0.1xC": {"n": 5, "d": 5}}),
                                 r"targets\.s1-0\.1xC: the name is also a ladder run"),
    "step-2 runs that are rungs": (changed(methods={"m": {"step1": {"law": "power_nd"},
                                                          "step2": {"law": "sigmoid", "runs": ["s1-0.1xC"]}}}),
                                   r"methods\.m\.step2\.runs: 's1-0\.1xC' is not an imported run with ladder: false"),
}


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_bad_config(case, workdir, capsys):
    config, message = CONFIGS[case]
    path = workdir / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    code, err = run_cli(["check", "--configfile", path], capsys)
    assert code == 2 and re.search(message, err), err


def test_the_shipped_smoke_config_passes(workdir, capsys):
    assert main(["check", "--configfile", str(ROOT / "configs" / "smoke.yaml")]) == 0
    assert "6 ladder runs, 6 trained here (35 checkpoints of 7 runs to evaluate on 3 tasks)" in capsys.readouterr().out


def test_averaging_most_of_a_short_run_is_warned_about(workdir):
    """5 checkpoints per run and fit.final_checkpoints 5: a run's value would be its mean over training."""
    from taskladder.base.config import validate
    from taskladder.workflow.experiment import plan

    warnings = []
    plan(validate(changed(fit__final_checkpoints=5, fit__target_checkpoints=2)), warn=warnings.append,
         check_registries=False)
    assert len(warnings) == 1 and re.match(r"fit\.final_checkpoints: 5 averages checkpoints from as early as 20% of "
                                           r"a run's steps \(6 run\(s\); s1-0\.1xC: steps \[5, 10, 15, 20, 25\]\)",
                                           warnings[0]), warnings  # a target's last 2 (80%, 100%) are fine
    warnings.clear()
    plan(validate(changed(fit__target_checkpoints=3)), warn=warnings.append, check_registries=False)
    assert len(warnings) == 1 and warnings[0].startswith("fit.target_checkpoints: 3 averages"), warnings


def test_whole_numbers_in_any_notation_are_integers(workdir, capsys):
    path = workdir / "ok.yaml"
    path.write_text(yaml.safe_dump(changed(targets={"big": {"n": 6.9e9, "d": 1.0e12}})).replace("6900000000.0", "6.9e9"))
    assert run_cli(["check", "--configfile", path], capsys)[0] == 0


CONFIG_FILES = {
    "bad YAML": ("experiment: smoke\nladder: {xc: [0.1\n", r"bad\.yaml: line 3, column 1: not valid YAML"),
    "not a mapping": ("- experiment\n- smoke\n", r"bad\.yaml: expected a mapping at the top level, found list"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_FILES))
def test_bad_config_file(case, workdir, capsys):
    text, message = CONFIG_FILES[case]
    (workdir / "bad.yaml").write_text(text)
    code, err = run_cli(["check", "--configfile", workdir / "bad.yaml"], capsys)
    assert code == 2 and re.search(message, err), err


OVERRIDES = {
    "dotted key, bad value": (["fit.window=seven"], r"fit\.window: 'seven' is not of type 'integer'"),
    "dotted key, out of range": (["fit.window=0"], r"fit\.window: 0 is less than the minimum of 1"),
    "no value": (["fit.window"], r"--config fit\.window: expected KEY=VALUE"),
}


@pytest.mark.parametrize("case", sorted(OVERRIDES))
def test_bad_override(case, workdir, capsys):
    overrides, message = OVERRIDES[case]
    code, err = run_cli(["check", "--configfile", ROOT / "configs" / "smoke.yaml", "--config", *overrides], capsys)
    assert code == 2 and re.search(message, err), err


def test_missing_config_file(workdir, capsys):
    code, err = run_cli(["check", "--configfile", workdir / "nope.yaml"], capsys)
    assert code == 2 and "config file not found: " in err and "nope.yaml" in err


@pytest.mark.slow  # lm-eval indexes its registry of ~15,000 tasks (seconds)
def test_unknown_lm_eval_task(workdir, capsys):
    path = workdir / "bad.yaml"
    path.write_text(yaml.safe_dump(changed(evaluation__lm_eval_tasks=["hellaswag_nonexistent"])))
    code, err = run_cli(["check", "--configfile", path], capsys)
    assert code == 2 and "evaluation.lm_eval_tasks: unknown lm-eval task(s) ['hellaswag_nonexistent']" in err, err


@pytest.mark.parametrize("case", ["checkpoint_every above a run's steps", "start of the wrong length"])
def test_snakemake_stops_before_any_job(case, workdir):
    config, message = CONFIGS[case]
    (workdir / "bad.yaml").write_text(yaml.safe_dump(config))
    proc = subprocess.run([*SNAKEMAKE, "--directory", workdir, "--configfile", workdir / "bad.yaml"],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and re.search(message, proc.stderr), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in (workdir / "results" / "smoke").iterdir()) == ["predictions.csv"]


# ---- command line: targets and output paths ---------------------------------------------------

def metrics_table(run: str, n: int, steps=(10, 20, 30), tasks=("piqa", "arc_easy")) -> pd.DataFrame:
    rows = [{"run": run, "n": n, "step": s, "tokens": 1000 * s, "task": t, "task_loss": 1.0 - s / 100,
             "acc": 0.3 + s / 200, "task_ce": 0.7, "lm_loss": 3.0 - s / 50} for s in steps for t in tasks]
    return pd.DataFrame(rows)


@pytest.fixture
def metrics(workdir) -> Path:
    """A metrics folder of two ladder runs."""
    folder = workdir / "metrics"
    folder.mkdir()
    for run, n in (("a", 1000), ("b", 2000)):
        metrics_table(run, n).to_csv(folder / f"{run}.csv", index=False)
    return folder


TARGETS = {
    "no name": "=1e9,1e12",
    "zero": "7B=0,0",
    "negative": "7B=-5,1e12",
    "infinite": "7B=inf,1e12",
    "one number": "7B=1e9",
    "not a number": "7B=big,1e12",
}


@pytest.mark.parametrize("case", sorted(TARGETS))
def test_bad_target(case, metrics, capsys):
    code, err = run_cli(["fit", metrics, "--target", TARGETS[case], "-o", metrics.parent / "out"], capsys)
    assert code == 2 and "argument --target: expected NAME=N,D" in err and "both > 0" in err, err
    assert TARGETS[case] in err and not (metrics.parent / "out").exists()


def test_output_is_an_existing_file(metrics, capsys):
    existing = metrics.parent / "results" / "smoke" / "predictions.csv"
    code, err = run_cli(["fit", metrics, "--target", "c=3000,1e6", "-o", existing], capsys)
    assert code == 2 and f"-o {existing}: an existing file; expected a directory" in err, err


def test_import_output_is_a_directory(workdir, capsys):
    log = workdir / "log.csv"
    log.write_text("_step\n1\n")
    code, err = run_cli(["import", log, "--run", "r", "--n", "5", "-o", workdir / "results"], capsys)
    assert code == 2 and f"-o {workdir / 'results'}: an existing directory; expected the path of a file" in err, err


def test_output_in_a_read_only_folder(tmp_path):
    """Run as an unprivileged user where the tests run as root (root may write anywhere), in a folder
    that user can reach."""
    as_user = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: cannot test a folder this user cannot write")
        as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    folder = Path(tempfile.mkdtemp(prefix="taskladder-test-"))  # pytest's tmp_path is private to root
    try:
        folder.chmod(0o755)
        metrics_table("a", 1000).to_csv(folder / "a.csv", index=False)
        (folder / "a.csv").chmod(0o644)
        locked = folder / "locked"
        locked.mkdir(mode=0o555)
        proc = subprocess.run([*as_user, sys.executable, "-m", "taskladder.cli", "fit", str(folder / "a.csv"), "-o",
                               str(locked / "out")], capture_output=True, text=True, cwd=folder,
                              env={**os.environ, "PYTHONPATH": str(ROOT), "MPLCONFIGDIR": str(folder)})
        assert proc.returncode == 2, proc.stderr[-2000:]
        assert f"-o {locked / 'out'}: {locked} is not writable by this user; expected a directory" in proc.stderr
        assert list(locked.iterdir()) == []
    finally:
        shutil.rmtree(folder)


def test_log_that_is_not_utf8(workdir, capsys):
    log = workdir / "log.csv"
    log.write_bytes(b"_step,batch_size_in_tokens\n1,4096\n2,40\xe996\n")
    code, err = run_cli(["import", log, "--run", "r", "--n", "5", "-o", workdir / "r.csv"], capsys)
    assert code == 2 and f"{log}: not UTF-8 text" in err and "expected a UTF-8 CSV file" in err, err
    assert not (workdir / "r.csv").exists()


# ---- metrics tables: checked for meaning where they are read -----------------------------------

def _cut(path: Path):
    path.write_bytes(path.read_bytes()[:-7])


def _set(row: int, column: str, value):
    def edit(path: Path):
        frame = pd.read_csv(path)
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
        frame.to_csv(path, index=False)
    return edit


def _rows(edit_frame):
    def edit(path: Path):
        edit_frame(pd.read_csv(path)).to_csv(path, index=False)
    return edit


METRICS = {  # edit of a.csv -> the message
    "cut mid-line": (_cut, r"a\.csv: line 7 does not end with a newline: the file was cut .*; expected a complete CSV"),
    "not UTF-8": (lambda p: p.write_bytes(p.read_bytes().replace(b"piqa", b"pi\xe9a", 1)),
                  r"a\.csv: line 2: not UTF-8 text \(byte 0xe9\); expected a UTF-8 CSV file"),
    "empty": (lambda p: p.write_text(""), r"a\.csv: empty file; expected a CSV table with a header row"),
    "missing column": (_rows(lambda f: f.drop(columns="acc")), r"a\.csv: missing column\(s\) \['acc'\]"),
    "not a number": (_set(2, "task_loss", "n/a"), r"a\.csv: row 4, column 'task_loss': expected a number, found 'n/a'"),
    "accuracy below 0": (_set(1, "acc", -0.2), r"a\.csv: row 3, column 'acc': expected an accuracy in \[0, 1\]"),
    "loss not positive": (_set(0, "task_loss", 0.0), r"a\.csv: row 2, column 'task_loss': expected a loss > 0, found 0"),
    "loss infinite": (_set(3, "lm_loss", np.inf), r"a\.csv: row 5, column 'lm_loss': expected a loss > 0, found inf"),
    "N not positive": (_set(0, "n", -1000), r"a\.csv: row 2, column 'n': expected a parameter count > 0"),
    "N changes within a run": (_set(5, "n", 999), r"a\.csv: run a: column 'n' holds \[999, 1000\]; expected one"),
    "duplicate (run, task, step)": (_rows(lambda f: pd.concat([f, f.iloc[[2]]])),
                                    r"a\.csv: row 8: duplicate \(run, task, step\) = \(a, piqa, 20\)"),
    "tokens going down": (_set(4, "tokens", 5), r"a\.csv: run a: tokens go down from 20000 at step 20 to 5 at step 30; "
                                                "expected tokens non-decreasing"),
    "a task missing at a step": (_rows(lambda f: f.drop(index=3)),
                                 r"a\.csv: run a, step 20: no rows for task\(s\) \['arc_easy'\]; expected one row per "
                                 "task at every step"),
    "one run in two files": (_rows(lambda f: pd.concat([f, metrics_table("b", 2000, steps=(40,))])),
                             r"b\.csv: run b is also in .*a\.csv; expected each run in one metrics file"),
}


@pytest.mark.parametrize("case", sorted(METRICS))
def test_bad_metrics_table(case, metrics, capsys):
    edit, message = METRICS[case]
    edit(metrics / "a.csv")
    out = metrics.parent / "results" / "smoke"
    code, err = run_cli(["fit", metrics, "--target", "c=3000,1e6", "--config", "fit.tasks=[piqa]", "-o", out], capsys)
    assert code == 2 and re.search(message, err), err


def test_unknown_method(metrics, capsys):
    code, err = run_cli(["fit", metrics, "--method", "twostep", "-o", metrics.parent / "out"], capsys)
    assert code == 2 and "--method twostep: not defined; methods: ['two_step']" in err, err


# ---- a workflow job: one line, no traceback ------------------------------------------------------

@pytest.mark.slow
def test_a_failing_job_says_what_and_where(tmp_path):
    """A ladder log with a repeated step: the import job stops with one line naming the file and rows."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    log = tmp_path / "examples" / "synthetic-ladder" / "190M-1xC.csv"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines + lines[-1:]))
    proc = subprocess.run([*SNAKEMAKE, "--directory", tmp_path, "--configfile", ROOT / "configs" / "synthetic.yaml",
                           "--keep-going"], capture_output=True, text=True)
    assert proc.returncode == 1
    assert re.search(rf"import_run: {re.escape(str(log.relative_to(tmp_path)))}: duplicate step \d+ in rows "
                     r"\[\d+, \d+\].*; each checkpoint must appear once", proc.stderr), proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr


# ---- data a method cannot be fitted on ------------------------------------------------------------

LADDERS = {  # runs (name, N) of a metrics folder -> the message
    "one model size": ([("a", 1000), ("b", 1000)], r"method two_step, task piqa: every ladder run has the same model "
                                                   r"size N \(1000\); power_nd needs at least 2 distinct values of N"),
    "fewer runs than parameters": ([("a", 1000), ("b", 2000)], r"method two_step, task piqa: step 1 has 2 ladder "
                                                               r"point\(s\) .* for the 5 parameters of power_nd"),
}


@pytest.mark.parametrize("case", sorted(LADDERS))
def test_a_ladder_a_law_cannot_be_fitted_on(case, workdir, capsys):
    runs, message = LADDERS[case]
    folder = workdir / "metrics"
    folder.mkdir()
    for i, (run, n) in enumerate(runs):  # the same N: different token counts, so only N is short
        metrics_table(run, n).assign(tokens=lambda f: f["tokens"] * (i + 1)).to_csv(folder / f"{run}.csv", index=False)
    out = workdir / "out"
    code, err = run_cli(["fit", folder, "--config", "fit.tasks=[piqa]", "-o", out], capsys)
    assert code == 2 and re.search(message, err), err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (out / "predictions.csv").exists()


@pytest.mark.parametrize("value", ["0", "-7"])
def test_import_with_a_parameter_count_not_above_0(value, workdir, capsys):
    log = workdir / "log.csv"
    log.write_text("_step,batch_size_in_tokens\n1,4096\n")
    code, err = run_cli(["import", log, "--run", "r", "--n", value, "-o", workdir / "r.csv"], capsys)
    assert code == 2 and f"argument --n: expected a whole number > 0, found {value!r}" in err, err
    assert not (workdir / "r.csv").exists()


def test_a_log_with_accuracy_in_percent_is_refused(workdir, capsys):
    """A log whose accuracy columns hold percent would give pred_acc 1.0 everywhere: it is refused."""
    from taskladder.synthetic.ladders import write_example

    write_example(workdir / "logs", seed=1, checkpoints=3)
    log = workdir / "logs" / "190M-1xC.csv"
    frame = pd.read_csv(log)
    accuracy = [c for c in frame.columns if c.startswith("eval/downstream/") and "_rc_5shot_" in c]
    frame[accuracy] *= 100
    frame.to_csv(log, index=False)
    code, err = run_cli(["import", log, "--run", "190M-1xC", "--n", "190354176", "-o", workdir / "m.csv"], capsys)
    assert code == 2 and str(log) in err and re.search(r"row 2, column 'eval/downstream/\w+': .*accuracy", err), err
    assert not (workdir / "m.csv").exists()

# ---- imported tables: an ambiguous cell stops `taskladder check`, naming file, row and column ---------------------
TABLE = "model,params,tokens,piqa_acc,piqa_bpb\na,1e8,2e9,60,1.1\nb,2e8,4e9,65,1.0\nc,4e8,8e9,70,0.9\n"
ROW = '{{"model": "{}", "params": {}, "tokens": 2e9, "piqa_acc": {}, "piqa_bpb": 1.0}}\n'
AMBIGUOUS = {  # the table (its suffix, its text), the entry's changes -> the message
    "a column read, named twice": ("csv", TABLE.replace("piqa_bpb", "piqa_acc"), {}, (
        r"t\.csv: row 1, column 'piqa_acc': expected each column name once, found it twice \(columns 4 and 5\)")),
    "a JSON string for a number": ("jsonl", ROW.format("a", 1e8, 60) + ROW.format("b", 2e8, '"65"'), {}, (
        r"t\.jsonl: line 2, column 'piqa_acc': expected a number, found the JSON string \"65\"")),
    "fractions and percent in a column": ("csv", TABLE.replace(",65,", ",0.65,"), {}, (
        r"t\.csv: row 3, column 'piqa_acc': expected percent on one scale .*, found 0\.65 here and 60 at row 2")),
    "a range filter's empty cell": ("csv", TABLE.replace("c,4e8", "c,"), {"filters": {"params": {"max": 3e8}}}, (
        r"t\.csv: row 4, column 'params': expected a number to compare with .*params.*, found an empty cell")),
}


@pytest.mark.parametrize("suffix, text, changes, message", AMBIGUOUS.values(), ids=list(AMBIGUOUS))
def test_an_ambiguous_table(suffix, text, changes, message, workdir, capsys):
    (workdir / f"t.{suffix}").write_text(text)
    entry = {"file": f"t.{suffix}", "columns": {"run": "model", "n": "params", "tokens": "tokens"}, "tasks": ["piqa"],
             "metrics": {"acc": "{task}_acc", "task_loss": "{task}_bpb"}, "units": {"acc": "percent"}, **changes}
    (workdir / "bad.yaml").write_text(yaml.safe_dump({"experiment": "t", "imported": {"t": entry}, "methods": {
        "two_step": {}}, "targets": {"7B": {"n": 6887575552, "d": 3945065873408}}, "fit": {"tasks": ["piqa"]}}))
    code, err = run_cli(["check", "--configfile", workdir / "bad.yaml"], capsys)
    assert code == 2 and re.search(message, err) and err.count("\n") == 1 and "Traceback" not in err, err
    assert (workdir / f"t.{suffix}").read_text() == text and not (workdir / "results" / "t").exists()
