"""A method's figures (step 1, step 2, chained) and an ensemble's members, drawn from its tables. The fixture
`method` (a method's tables on a small synthetic ladder) serves the other report tests."""

import numpy as np
import pandas as pd
import pytest
from conftest import EVIDENCE, intervals

from taskladder.base.config import paper_methods
from taskladder.fit.methods import run_method
from taskladder.report import figures
from taskladder.report.registry import METHOD_FIGURES
from taskladder.synthetic.ladders import ladder_truth
from taskladder.synthetic.truth import SIZES

TARGET = {"n": 3_000_000_000, "d": 60_000_000_000, "flops": None}


@pytest.fixture(scope="module", name="method")
def method_fixture():
    """two_step's tables on a small ladder, with a measured target; `flags` as the summary adds them."""
    ladder = ladder_truth(("piqa", "hellaswag"), sizes={k: SIZES[k] for k in ("190M", "370M", "760M")},
                          multiples=(1, 2, 5), checkpoints=6, noise=0.001)
    measured = ladder_truth(("piqa", "hellaswag"), sizes={"3B": TARGET["n"]}, multiples=(1,), checkpoints=1)
    options = {"final_checkpoints": 5, "target_checkpoints": 1, "drop_first": 0.1, "window": 5,
               "huber_delta": 1e-3, "multistart": 2, "minima_rtol": 1e-3, "seed": 0}
    result = run_method("two_step", paper_methods()["two_step"], ladder, {"3B": {**TARGET, "metrics": measured}},
                        ["piqa", "hellaswag"], options, intervals(draws=8), EVIDENCE)
    result.predictions["flags"] = ["", "wide_interval"]
    return result, ladder


def is_png(path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000


def test_a_methods_figures(method, tmp_path):
    result, _ = method
    outputs = {name: tmp_path / f"{name}.png" for name in METHOD_FIGURES}
    figures.method_figures(result.fits, result.predictions, result.points, outputs)
    assert all(is_png(path) for path in outputs.values())
    figures.method_figures(result.fits, result.predictions, result.points, {"step1": tmp_path / "s.svg"},
                           format="svg")
    assert (tmp_path / "s.svg").read_text().lstrip().startswith("<?xml")


def test_an_ensembles_members(method, tmp_path):
    result, _ = method
    member = result.predictions
    ensemble = member.assign(method="ensemble", pred_acc=member["pred_acc"] + 0.01)
    weights = pd.DataFrame({"task": ["piqa", "hellaswag"], "method": "two_step", "weight": 1.0})
    figures.members_figure(pd.concat([member, ensemble]), weights, tmp_path / "members.png")
    assert is_png(tmp_path / "members.png")


def test_the_flags_a_panel_names(method):
    result, _ = method
    assert figures._flags(result.predictions, "hellaswag") == ["wide_interval"]
    assert figures._flags(result.predictions, "piqa") == []
    assert np.isfinite(result.predictions["pred_acc"]).all()
