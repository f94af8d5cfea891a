"""Bad configs fail before any job starts, with a message naming the key and what was expected.

The Snakefile runs `validate` then `plan` before it builds a single job; the library-level cases
below run exactly those two calls, and a few of them also go through Snakemake itself.
"""
import copy
import re
import subprocess
import sys

import pytest
import yaml

from taskladder.config import load_config, validate
from taskladder.experiment import plan

from conftest import ROOT

SMOKE = yaml.safe_load((ROOT / "configs" / "smoke.yaml").read_text())
DROP = object()


def changed(**keys):
    """The smoke config with dotted `keys` set (DROP removes a key)."""
    config = copy.deepcopy(SMOKE)
    for dotted, value in keys.items():
        *parents, last = dotted.split("__")
        node = config
        for p in parents:
            node = node.setdefault(p, {})
        if value is DROP:
            node.pop(last)
        else:
            node[last] = value
    return config


BAD = {
    "unknown key": (changed(ladderr={}), r"\(top level\): Additional properties are not allowed \('ladderr'"),
    "unknown nested key": (changed(ladder__sizes__s1__d_modle=16),
                           r"ladder.sizes.s1: Additional properties are not allowed \('d_modle'"),
    "wrong type": (changed(ladder__seq_len="long"), "ladder.seq_len: 'long' is not of type 'integer'"),
    "negative size": (changed(ladder__sizes__s1__d_model=-16), "ladder.sizes.s1.d_model: -16 is less than the minimum"),
    "empty ladder": (changed(ladder__sizes={}), "ladder.sizes: {} should be non-empty"),
    "no data multiple": (changed(ladder__xc=[]), r"ladder.xc: \[\] should be non-empty"),
    "heads do not divide d_model": (changed(ladder__sizes__s1__n_heads=5),
                                    "ladder.sizes.s1: d_model 16 is not divisible by n_heads 5"),
    "duplicate rung names": (changed(ladder__xc=[0.1, 0.10, 0.2]), r"ladder: run names used twice: \['s1-0.1xC'"),
    "target of an unknown size": (changed(ladder__targets={"big": {"size": "s9", "xc": 1}}),
                                  "ladder.targets.big: size 's9' not in ladder.sizes"),
    "target without n or d": (changed(targets={"7B": {"n": 6887575552}}), "targets.7B: missing d"),
    "unknown evaluation task": (changed(evaluation__tasks=["hellaswagg", "piqa"]),
                                r"evaluation.tasks: unknown OLMES task name\(s\) \['hellaswagg'\]"),
    "fit task not evaluated": (changed(fit__tasks=["piqa", "boolq"]), r"fit.tasks: unknown task\(s\) \['boolq'\]"),
    "too many shots": (changed(evaluation__num_shots=7), "evaluation.num_shots: 7 is greater than the maximum of 5"),
    "unreachable data path": (changed(corpus__sources=[{"kind": "jsonl", "path": "/nonexistent/docs-*.jsonl"}]),
                              r"corpus.sources\[0\].path: no files match '/nonexistent/docs-\*.jsonl'"),
    "tokenizer file missing": (changed(tokenizer={"kind": "file", "path": "/nonexistent/tokenizer.json"}),
                               "tokenizer.path: file not found: /nonexistent/tokenizer.json"),
    "unknown method law": (changed(methods={"m": {"step1": {"law": "quadratic"}}}),
                           "methods.m.step1.law: 'quadratic' is not one of"),
    "analysis of an unknown method": (changed(analyses__compute_vs_error={"method": "taskce"}),
                                      "analyses.compute_vs_error.method: 'taskce' is not among methods"),
    "keep only final checkpoints that are job outputs": (
        changed(train={"job": "checkpoint", "keep_checkpoints": "final"}),
        "train.keep_checkpoints: final deletes intermediate checkpoints, which train.job: checkpoint keeps"),
    "imports without a log directory": (changed(imported={"190M-1xC": {"file": "190M-1xC.csv", "n": 190354176}}),
                                        "olmo_ladder_dir: not set"),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_config_names_the_key(kind):
    config, message = BAD[kind]
    with pytest.raises(ValueError, match=message):
        plan(validate(config))


def test_the_smoke_config_itself_passes():
    exp = plan(load_config(ROOT / "configs" / "smoke.yaml"))
    assert len(exp.trained) == 6 and list(exp.targets) == ["t1-0.1xC"]


@pytest.mark.parametrize("kind", ["unknown nested key", "duplicate rung names", "unreachable data path",
                                  "target without n or d"])
def test_snakemake_stops_before_any_job(tmp_path, kind):
    config, message = BAD[kind]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory",
                           str(tmp_path), "--cores", "1", "--configfile", str(path)], capture_output=True, text=True)
    assert proc.returncode != 0
    assert re.search(message, proc.stdout + proc.stderr), proc.stderr[-2000:]
    assert not (tmp_path / "results").exists()
