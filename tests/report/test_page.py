"""The report's first page: the headline method's predictions as a table, then its figures inline."""

import base64

import numpy as np
import pandas as pd

from taskladder.report.page import first_page, predictions_table


def predictions(**extra):
    return pd.DataFrame({"method": ["ensemble", "ensemble", "two_step"], "target": "7B", "task": ["piqa", "mmlu", "piqa"],
                         "pred_acc": [0.812, 0.25, 0.8], "pred_lo": [0.79, np.nan, 0.7], "pred_hi": [0.83, np.nan, 0.9],
                         "actual_acc": [0.8, np.nan, 0.8], "flags": [np.nan, "at_chance<", ""], **extra})


def test_the_table_in_points_with_error_and_escaped_flags():
    table = predictions_table(predictions().iloc[:2])
    assert "<td>81.2</td><td>79.0 – 83.0</td><td>80.0</td><td>+1.2</td>" in table
    assert "<td>25.0</td><td></td><td></td><td></td>" in table  # no interval, no actual
    assert '<td class="flag">at_chance&lt;</td>' in table and "<th>group</th>" not in table
    assert "<th>group</th>" in predictions_table(predictions(group="web"))


def test_the_page_shows_the_headline_method_then_its_figures(tmp_path):
    png = tmp_path / "chained.png"
    png.write_bytes(b"\x89PNG fake")
    (tmp_path / "step1.pdf").write_bytes(b"%PDF")
    page = first_page(predictions(), "ensemble", [png, tmp_path / "step1.pdf"], "tiny")
    lines = page.splitlines()
    assert lines[:4] == ["taskladder: tiny", "=" * 16, "", ".. raw:: html"]
    assert all(line.startswith("   ") for line in lines[4:] if line)  # one raw block
    assert page.count("<tr>") == 3  # header and the ensemble's two rows
    assert base64.encodebytes(b"\x89PNG fake").decode().strip() in page
    assert "step1.pdf (PDF: under its method in the results)" in page
