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

LONG = "a" * 101
NAMES = [  # (kind, name, config, key, the name as the message shows it): every name that becomes part of a path
    ("experiment", "..", changed(experiment=".."), "experiment", "'..'"),  # results/.. is the project folder
    ("experiment", ".", changed(experiment="."), "experiment", "'.'"),
    ("experiment", "../elsewhere", changed(experiment="../elsewhere"), "experiment", "'../elsewhere'"),
    ("experiment", LONG, changed(experiment=LONG), "experiment", f"'{'a' * 60}'... (101 characters)"),
    ("run", "s/1-0.1xC", changed(ladder__sizes={"s/1": SMOKE["ladder"]["sizes"]["s1"]}), "ladder.sizes.s/1",
     "'s/1-0.1xC'"),
    ("run", "..", changed(ladder__targets={"..": {"size": "t1", "xc": 0.1}}), "ladder.targets...", "'..'"),
    ("target", "7B/4T", changed(targets={"7B/4T": {"n": 5000, "d": 5}}), "targets.7B/4T", "'7B/4T'"),
    ("target", "7B-" + "ab" * 20, changed(targets={"7B-" + "ab" * 20: {"n": 5000, "d": 5}}), "targets.7B-" + "ab" * 20,
     f"'7B-{'ab' * 20}'"),  # Snakemake takes a wildcard value ending in 20 repeats for a cycle
    ("entry", "../x", changed(imported={"../x": {"file": "x.csv", "n": 5000}}), "imported.../x", "'../x'"),
    ("group", "a/b", changed(olmo_ladder_dir=str(ROOT / "examples" / "synthetic-ladder"),
                             imported={"r": {"file": "1B-1xC.csv", "n": 5000, "group": "a/b"}}), "imported.r.group",
     "'a/b'"),
    ("run", ".hidden", changed(checkpoints=[{"run": ".hidden", "n": 5000, "tokens": 5, "step": 5, "hub": "o/m"}]),
     "checkpoints[0].run", "'.hidden'"),
    ("group", "a b", changed(checkpoints=[{"run": "r", "n": 5000, "tokens": 5, "step": 5, "hub": "o/m", "group": "a b"}]),
     "checkpoints[0].group", "'a b'"),
    ("method", "../m", changed(methods={"../m": {"step1": {"law": "power_nd"}}}), "methods.../m", "'../m'"),
    ("task", "my/task", changed(evaluation__lm_eval_tasks=[{"task": "hellaswag", "name": "my/task"}]),
     "evaluation.lm_eval_tasks", "'my/task'"),
]

NUMBERS = {  # out of range, NaN, infinite: refused with the key, the value and what was expected (and why)
    "NaN": (changed(intervals__level=float("nan")), r"intervals\.level: found nan; expected a finite number"),
    "infinity": (changed(targets={"big": {"n": 5000, "d": 5, "flops": float("inf")}}),
                 r"targets\.big\.flops: found inf; expected a finite number"),
    "NaN where no schema types it": (changed(ladder__sizes__s1__model={"rope_theta": float("nan")}),
                                     r"ladder\.sizes\.s1\.model\.rope_theta: found nan; expected a finite number"),
    "a level of 1": (changed(intervals__level=1), r"intervals\.level: 1 is greater than or equal to the maximum of 1 "
                                                  r"\(coverage .*; a probability in \(0, 1\)\)"),
    "huge multistart": (changed(fit__multistart=10**7), r"fit\.multistart: 10000000 is greater than the maximum of 1000 "
                                                        r"\(.*every start is refitted at once"),
    "huge multistart of one method": (changed(methods={"two_step": {"fit": {"multistart": 10**7}}}),
                                      r"methods\.two_step\.fit\.multistart: 10000000 is greater than the maximum of "
                                      "1000"),
    "huge multistart of the analysis": (changed(analyses__compute_vs_error__multistart=10**6),
                                        r"analyses\.compute_vs_error\.multistart: 1000000 is greater than the maximum "
                                        "of 1000"),
    "huge draws": (changed(intervals__draws=10**6), r"intervals\.draws: 1000000 is greater than the maximum of 10000 "
                                                    r"\(.*refitted at once"),
    "a flag threshold in points": (changed(flags__max_width=15), r"flags\.max_width: 15 is greater than the maximum "
                                                                 r"of 1 \(.*a fraction of accuracy .*not points\)"),
    "huge dpi": (changed(figures__dpi=100_000), r"figures\.dpi: 100000 is greater than the maximum of 1200"),
    "negative seed": (changed(seed=-1), r"seed: -1 is less than the minimum of 0"),
    "a beta of AdamW": (changed(train__betas=[0.9, 1.5]), r"train\.betas\[1\]: 1\.5 is greater than or equal to "
                                                          r"the maximum of 1 \(in \[0, 1\): AdamW refuses others\)"),
    "eps 0": (changed(train__eps=0), r"train\.eps: 0 is less than or equal to the minimum of 0"),
    "a checkpoint step too large for its folder name": (
        changed(checkpoints=[{"run": "r", "n": 5000, "tokens": 5, "step": 10**7, "hub": "o/m"}]),
        r"checkpoints\[0\]\.step: 10000000 is greater than the maximum of 9999999 \(.*step\{step:07d\}"),
    "a run with more steps than a folder name holds": (
        changed(ladder__xc=[100_000.0]),
        r"ladder\.sizes\.s1: run s1-100000xC: \d+ steps of 1024 tokens; expected at most 9999999 \(a checkpoint's "
        r"folder is named step\{step:07d\}\)"),
    "step range backwards": (changed(methods={"m": {"step1": {"law": "power_nd"},
                                                    "step2": {"law": "sigmoid", "steps": [450000, 170000]}}}),
                             r"methods\.m\.step2\.steps: \[450000, 170000\]; expected \[first, last\] with first <= "
                             "last"),
    "a margin above chance of more than 1": (
        changed(methods={"m": {"step1": {"law": "power_nd"}, "step2": {"law": "linear", "above_chance": 5}}}),
        r"methods\.m\.step2\.above_chance: 5 is greater than or equal to the maximum of 1"),
}

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
    "log folder not found": (changed(olmo_ladder_dir="/nonexistent", imported={"r": {"file": "r.csv", "n": 5000}}),
                             r"olmo_ladder_dir: directory not found: /nonexistent"),
    "target named like a rung": (changed(targets={"s1-0.1xC": {"n": 5000, "d": 5}}),
                                 r"targets\.s1-0\.1xC: the name is also a ladder run"),
    "step-2 runs that are rungs": (changed(methods={"m": {"step1": {"law": "power_nd"},
                                                          "step2": {"law": "sigmoid", "runs": ["s1-0.1xC"]}}}),
                                   r"methods\.m\.step2\.runs: 's1-0\.1xC' is not an imported run with ladder: false"),
    **{f"{kind} named {shown}": (config, rf"{re.escape(where)}: {kind} name {re.escape(shown)} cannot name a file; "
                                          r"expected letters, digits and \. _ \+ = - only, starting with a letter or "
                                          r"digit, at most 100 characters")
       for kind, name, config, where, shown in NAMES},
    **NUMBERS,
}


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_bad_config(case, workdir, capsys):
    config, message = CONFIGS[case]
    path = workdir / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    code, err = run_cli(["check", "--configfile", path], capsys)
    assert code == 2 and re.search(message, err), err
    assert err.count("\n") == 1 and err.startswith("taskladder check: error: "), err


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


TWICE = r"is given twice \(also at line {}, column {}\); expected each key once \(YAML would keep only the last\)"
CONFIG_FILES = {
    "bad YAML": ("experiment: smoke\nladder: {xc: [0.1\n", r"bad\.yaml: line 3, column 1: not valid YAML"),
    "not a mapping": ("- experiment\n- smoke\n", r"bad\.yaml: expected a mapping at the top level, found list"),
    "a key given twice": ("experiment: smoke\nseed: 1\nexperiment: other\n",
                          r"bad\.yaml: line 3, column 1: experiment " + TWICE.format(1, 1)),
    "a nested key given twice": ("experiment: smoke\nfit:\n  window: 3\n  tasks: [piqa]\n  window: 7\n",
                                 r"bad\.yaml: line 5, column 3: fit\.window " + TWICE.format(3, 3)),
    "a key given twice in a list item": ("experiment: smoke\ncorpus:\n  sources:\n  - {kind: text, kind: jsonl}\n",
                                         r"bad\.yaml: line 4, column 18: corpus\.sources\[0\]\.kind "
                                         + TWICE.format(4, 6)),
    "a key given twice in flow style": ("experiment: smoke\nfit: {window: 3, window: 7}\n",
                                        r"bad\.yaml: line 2, column 18: fit\.window " + TWICE.format(2, 7)),
    "a key given twice after a merge": ("experiment: smoke\nbase: &b {n: 5000}\ntargets:\n  t: {<<: *b, d: 5, d: 6}\n",
                                        r"bad\.yaml: line 4, column 21: targets\.t\.d " + TWICE.format(4, 15)),
    "NaN in YAML": ("experiment: smoke\nintervals: {level: .nan}\n", r"intervals\.level: found nan; expected a "
                                                                    "finite number"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_FILES))
def test_bad_config_file(case, workdir, capsys):
    text, message = CONFIG_FILES[case]
    (workdir / "bad.yaml").write_text(text)
    code, err = run_cli(["check", "--configfile", workdir / "bad.yaml"], capsys)
    assert code == 2 and re.search(message, err), err
    assert err.count("\n") == 1, err


def test_a_merged_key_may_be_overridden(workdir, capsys):
    """`<<: *anchor` then a key of the anchor is YAML's way to override it, not a key given twice."""
    (workdir / "ok.yaml").write_text("experiment: smoke\nfit: &f {window: 3, multistart: 0}\n"
                                     "methods:\n  two_step: {fit: {<<: *f, window: 7}}\n")
    from taskladder.base.config import load_config

    assert load_config(workdir / "ok.yaml")["methods"]["two_step"]["fit"] == {"window": 7, "multistart": 0}


OVERRIDES = {
    "dotted key, bad value": (["fit.window=seven"], r"fit\.window: 'seven' is not of type 'integer'"),
    "dotted key, out of range": (["fit.window=0"], r"fit\.window: 0 is less than the minimum of 1"),
    "no value": (["fit.window"], r"--config fit\.window: expected KEY=VALUE"),
    "bad YAML": (["fit={window: 7"], r"--config fit: '\{window: 7', column 11: not valid YAML \(expected ',' or '\}'"),
    "bad YAML in a list": (["fit.tasks=[piqa, hellaswag"], r"--config fit\.tasks: '\[piqa, hellaswag', column 17: "
                                                           "not valid YAML"),
    "a key given twice in a value": (["fit={window: 7, window: 8}"],
                                     r"--config fit: '\{window: 7, window: 8\}', column 13: fit\.window is given twice "
                                     r"\(also at column 2\); expected each key once"),
    "the same key twice": (["fit.window=7", "fit.window=8"],
                           r"--config fit\.window=8: the key is given twice \(--config fit\.window=7\); expected each "
                           "key once"),
    "a key inside one given": (["fit={window: 7}", "fit.window=8"],
                               r"--config fit\.window=8: fit is given too \(--config fit=\{window: 7\}\); expected "
                               "each key once"),
    "a dotted key into a value": (["experiment.name=x"],
                                  r"--config experiment\.name: experiment is 'smoke', not a mapping; expected a key of "
                                  "a mapping"),
    "NaN": (["intervals.level=.nan"], r"intervals\.level: found nan; expected a finite number"),
    "infinity": (["fit.huber_delta=.inf"], r"fit\.huber_delta: found inf; expected a finite number"),
    "a number too large for an integer": (["intervals.draws=1e400"], r"intervals\.draws: found inf; expected a finite "
                                                                     "number"),
}


@pytest.mark.parametrize("case", sorted(OVERRIDES))
def test_bad_override(case, workdir, capsys):
    overrides, message = OVERRIDES[case]
    code, err = run_cli(["check", "--configfile", ROOT / "configs" / "smoke.yaml", "--config", *overrides], capsys)
    assert code == 2 and re.search(message, err), err
    assert err.count("\n") == 1, err


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


def _written(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def long_group_table(workdir: Path) -> str:
    """The bundled sweep with a group (recipe) name of 150 characters: once the end of Snakemake (infinite
    recursion, from a file name too long)."""
    shutil.copytree(ROOT / "examples" / "sweep", workdir / "examples" / "sweep")
    table = workdir / "examples" / "sweep" / "sweep.csv"
    table.write_text(table.read_text().replace(",curated,", f",{'g' * 150},"))
    return str(ROOT / "configs" / "sweep-example.yaml")


SNAKEMAKE_CASES = {  # (what a case writes in the working folder -> --configfile, --config items, the message)
    "a config file with a key given twice": (
        lambda w: _written(w / "bad.yaml", "experiment: smoke\nfit: {window: 3}\nfit: {window: 7}\n"),
        [], r"bad\.yaml: line 3, column 1: fit is given twice \(also at line 2, column 1\); expected each key once"),
    "a --config value with a key given twice": (
        lambda w: str(ROOT / "configs" / "synthetic.yaml"), ["fit={window: 3, window: 7}"],
        r"--config fit: '\{window: 3, window: 7\}', column 13: fit\.window is given twice \(also at column 2\)"),
    "a --config value that is not YAML": (
        lambda w: str(ROOT / "configs" / "synthetic.yaml"), ["fit={window: 3"],
        r"--config fit: '\{window: 3', column 11: not valid YAML"),
    "a --config NaN": (lambda w: str(ROOT / "configs" / "synthetic.yaml"), ["intervals={level: .nan}"],
                       r"invalid .*synthetic\.yaml: intervals\.level: found nan; expected a finite number"),
    "a --config multistart too large": (
        lambda w: str(ROOT / "configs" / "synthetic.yaml"), ["fit={multistart: 100000000}"],
        r"fit\.multistart: 100000000 is greater than the maximum of 1000"),
    "a group name too long": (long_group_table, [], r"examples/sweep/sweep\.csv: column group: group name 'g{60}'\.\.\. "
                                                    r"\(150 characters\) cannot name a file; expected letters, digits"),
}


@pytest.mark.parametrize("case", sorted(SNAKEMAKE_CASES))
def test_snakemake_says_what_is_wrong_on_one_line(case, workdir):
    """`snakemake` (the dry run is enough: it stops before any job) prints one line after its own notice."""
    write, config, message = SNAKEMAKE_CASES[case]
    proc = subprocess.run([*SNAKEMAKE, "--dry-run", "--directory", workdir, "--configfile", write(workdir),
                           *(["--config", *config] if config else [])], capture_output=True, text=True, cwd=workdir)
    lines = [line for line in proc.stderr.splitlines() if not line.startswith("Using workflow specific profile")]
    assert proc.returncode == 1 and len(lines) == 1 and re.match(f"Error: .*{message}", lines[0]), proc.stderr[-2000:]


def test_a_long_group_name_is_refused_by_check_too(workdir, capsys):
    code, err = run_cli(["check", "--configfile", long_group_table(workdir)], capsys)
    assert code == 2 and err.count("\n") == 1 and "(150 characters) cannot name a file" in err, err


def edge_names(workdir: Path) -> dict:
    """The smoke ladder with every kind of name at the edge of the safe pattern (its punctuation, 100 characters), and
    runs of every source: trained, existing checkpoints (one at the largest step), an imported run log, a target
    measured by its log, a method and an ensemble."""
    checkpoint = workdir / "ckpt"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text("{}")
    sizes = SMOKE["ladder"]["sizes"]
    return changed(experiment="e" * 91 + ".a+b=c-d", olmo_ladder_dir=str(ROOT / "examples" / "synthetic-ladder"),
                   ladder__sizes={"S.1+a=b": sizes["s1"], "s2": sizes["s2"], "s3": sizes["s3"], "t1": sizes["t1"]},
                   ladder__targets={"T_1=x": {"size": "t1", "xc": 0.1}},
                   checkpoints=[{"run": "c." + "0123456789" * 9 + "abcdefgh", "n": 5000, "tokens": 10, "step": 9_999_999,
                                 "path": str(checkpoint)}],
                   imported={"i+1=B": {"file": "1B-1xC.csv", "n": 1279395840}},
                   targets={"7B=4T": {"n": 6887575552, "d": 3945065873408, "file": "7B-4T.csv"}},
                   methods={"two_step": {}, "m.1+a=b": {"step1": {"law": "power_nd"}, "step2": {"law": "sigmoid"}},
                            "e_n=s": {"ensemble": {}}})


def edge_groups(workdir: Path) -> dict:
    """The bundled sweep (an imported table with groups) with group names at the edge of the safe pattern."""
    shutil.copytree(ROOT / "examples" / "sweep", workdir / "examples" / "sweep")
    table = workdir / "examples" / "sweep" / "sweep.csv"
    table.write_text(table.read_text().replace(",curated,", f",{'g' * 94}.+=-_9,").replace(",web,", ",W.e+b=1,"))
    return {**yaml.safe_load((ROOT / "configs" / "sweep-example.yaml").read_text()), "experiment": "S-" + "0123456789" * 9 + "a.b+c=d_"}


@pytest.mark.parametrize("config", [edge_names, edge_groups])
def test_every_output_lies_inside_the_results_folder(config, workdir):
    """Experiment.outputs and every job's outputs and logs (a dry run lists them) resolve inside results/EXPERIMENT."""
    from taskladder.base.config import validate
    from taskladder.workflow.experiment import plan

    config = config(workdir)
    inside = (workdir / "results" / config["experiment"]).resolve()
    exp = plan(validate(copy.deepcopy(config)), warn=lambda msg: None, check_registries=False)
    assert exp.outputs and all((workdir / p).resolve().is_relative_to(inside) for p in exp.outputs), exp.outputs
    (workdir / "edge.yaml").write_text(yaml.safe_dump(config))
    proc = subprocess.run([*SNAKEMAKE, "--dry-run", "--directory", workdir, "--configfile", workdir / "edge.yaml"],
                          capture_output=True, text=True, cwd=workdir)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    planned = [p for m in re.finditer(r"^\s+(?:output|log): (.+)$", proc.stdout, re.M) for p in m[1].split(", ")]
    assert len(planned) > len(exp.outputs)
    outside = [p for p in planned if not (workdir / p).resolve().is_relative_to(inside)]
    assert not outside, outside


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
    code, err = run_cli(["import", log, "--run", "r", "--n", "5000", "-o", workdir / "results"], capsys)
    assert code == 2 and f"-o {workdir / 'results'}: an existing directory; expected the path of a file" in err, err


def test_output_in_a_read_only_folder(tmp_path):
    """Run as an unprivileged user where the tests run as root (root may write anywhere), in a folder
    that user can reach."""
    as_user = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("running as root without setpriv: cannot test a folder this user cannot write")
        as_user = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        probe = subprocess.run([*as_user, sys.executable, "-c", "import taskladder.cli; print(taskladder.cli.__file__)"],
                               capture_output=True, text=True, cwd="/", env={**os.environ, "PYTHONPATH": str(ROOT)})
        if probe.returncode or not probe.stdout.strip().startswith(str(ROOT)):
            found = (probe.stderr.strip().splitlines() or [f"it imports {probe.stdout.strip()}"])[-1]
            pytest.skip(f"user nobody cannot run the taskladder of {ROOT} (a folder on the way is private to its "
                        f"owner): {found}")
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
    code, err = run_cli(["import", log, "--run", "r", "--n", "5000", "-o", workdir / "r.csv"], capsys)
    assert code == 2 and f"{log}: not UTF-8 text" in err and "expected a UTF-8 CSV file" in err, err
    assert not (workdir / "r.csv").exists()


def test_import_with_a_parameter_count_in_millions(workdir, capsys):
    """190 is 190M written in millions: as a count it would put the run below any language model, silently."""
    log = workdir / "log.csv"
    log.write_text("_step,batch_size_in_tokens\n1,4096\n")
    code, err = run_cli(["import", log, "--run", "r", "--n", "190", "-o", workdir / "r.csv"], capsys)
    assert code == 2 and "argument --n: expected a parameter count >= 1000 (1.3e9, not 1.3" in err, err
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
    "N not positive": (_set(0, "n", -1000), r"a\.csv: row 2, column 'n': expected a parameter count >= 1000"),
    "N changes within a run": (_set(5, "n", 1001), r"a\.csv: run a: column 'n' holds \[1000, 1001\]; expected one"),
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
    out = metrics.parent / "results" / "smoke"  # earlier results, which --force would let it overwrite
    code, err = run_cli(["fit", metrics, "--target", "c=3000,1e6", "--config", "fit.tasks=[piqa]", "-o", out,
                         "--force"], capsys)
    assert code == 2 and re.search(message, err), err


def test_unknown_method(metrics, capsys):
    code, err = run_cli(["fit", metrics, "--method", "twostep", "-o", metrics.parent / "out"], capsys)
    assert code == 2 and "--method twostep: not defined; methods: ['two_step']" in err, err


def _user_file(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("the user's own file\n")
    return path


NOT_OURS = r"{}: an existing file that taskladder did not write \(it is not in {}\); expected a new path, or --force to " \
           r"overwrite it"
AN_INPUT = r"{}: an input of this command, which its output would replace; expected an output path that is not an input"


def _not_ours(path: Path) -> str:
    return NOT_OURS.format(re.escape(str(path)), re.escape(str(path.parent / ".taskladder-outputs")))


def _fit_onto_its_inputs(w: Path):
    metrics_table("predictions", 3000).to_csv(w / "metrics" / "predictions.csv", index=False)  # a run's table
    return ["fit", w / "metrics", "-o", w / "metrics"], AN_INPUT.format(re.escape(str(w / "metrics" / "predictions.csv")))


OUTPUTS = {  # the working folder (with metrics/{a,b}.csv and earlier results) -> (command line, message)
    "example over a user's file": lambda w: (["example", w / "ex"], _not_ours(_user_file(w / "ex" / "190M-1xC.csv"))),
    "example --sweep over a user's file": lambda w: (["example", w / "ex", "--sweep"],
                                                     _not_ours(_user_file(w / "ex" / "sweep.csv"))),
    "import onto its input": lambda w: (["import", w / "metrics" / "a.csv", "--run", "a", "--n", 5000, "-o",
                                         w / "metrics" / "a.csv"], AN_INPUT.format(re.escape(str(w / "metrics" / "a.csv")))),
    "import onto its input, with --force": lambda w: (["import", w / "metrics" / "a.csv", "--run", "a", "--n", 5000, "-o",
                                                       w / "metrics" / "a.csv", "--force"],
                                                      AN_INPUT.format(re.escape(str(w / "metrics" / "a.csv")))),
    "import over a user's file": lambda w: (["import", w / "metrics" / "a.csv", "--run", "a", "--n", 5000, "-o",
                                             _user_file(w / "mine.csv")], _not_ours(w / "mine.csv")),
    "fit over the workflow's results": lambda w: (["fit", w / "metrics", "-o", w / "results" / "smoke"],
                                                  _not_ours(w / "results" / "smoke" / "predictions.csv")),
    "fit onto its inputs": _fit_onto_its_inputs,
    "a target given twice": lambda w: (["fit", w / "metrics", "--target", "c=3000,1e6", "--target", "c=4000,1e6", "-o",
                                        w / "out"], r"--target c: given twice; expected each --target once"),
    "a method given twice": lambda w: (["fit", w / "metrics", "--method", "two_step", "--method", "two_step", "-o",
                                        w / "out"], r"--method two_step: given twice; expected each --method once"),
}


@pytest.mark.parametrize("case", sorted(OUTPUTS))
def test_an_output_that_would_replace_what_it_may_not(case, metrics, capsys):
    """Refused before anything is written: nothing in the working folder changes, and nothing is added."""
    argv, message = OUTPUTS[case](metrics.parent)
    before = snapshot(metrics.parent)
    code, err = run_cli(argv, capsys)
    assert code == 2 and re.search(message, err) and err.count("\n") == 1, err
    assert snapshot(metrics.parent) == before


def test_a_command_may_replace_what_it_wrote(workdir, capsys):
    """A rerun replaces the files a command wrote; --force replaces a user's file, which is then the command's."""
    mine = _user_file(workdir / "ex" / "7B-4T.csv")
    assert run_cli(["example", workdir / "ex", "--force"], capsys)[0] == 0 and mine.read_text() != "the user's own file\n"
    assert run_cli(["example", workdir / "ex", "--seed", "1"], capsys)[0] == 0
    listed = (workdir / "ex" / ".taskladder-outputs").read_text().split()
    assert "7B-4T.csv" in listed and len(listed) == 17
    for _ in range(2):
        code, err = run_cli(["import", workdir / "ex" / "1B-1xC.csv", "--run", "1B-1xC", "--n", 1279395840, "-o",
                             workdir / "metrics" / "1B-1xC.csv"], capsys)
        assert code == 0, err


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
