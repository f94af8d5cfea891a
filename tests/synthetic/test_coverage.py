"""The intervals hold the truth of synthetic ladders of known, realistically wrong truth at the rate they claim, in
every bucket of distance beyond the ladder; and the README's coverage tables are this run's."""

import pandas as pd
import pytest

from taskladder.report.readme import README, differences, render
from taskladder.synthetic import coverage

LEVEL = 0.9


@pytest.mark.slow
def test_intervals_hold_the_truth_at_every_distance_and_the_readme_says_so(tmp_path):
    assert coverage.main(["-o", str(tmp_path / "coverage")]) == 0
    table = coverage.summary(pd.read_csv(tmp_path / "coverage" / "coverage.csv"))
    assert set(table["bucket"]) == {"3-10x", "10-30x", "30-100x"}
    for method in ("ensemble", "two_step"):
        rows = table[table["method"] == method].set_index("bucket")
        assert rows["cases"].min() >= 300, method
        # 85-95% as run here (the README quotes the numbers); one point more either way for a machine whose libm
        # rounds a last bit otherwise and moves a case at a bucket's edge
        assert rows["coverage"].between(LEVEL - 0.06, LEVEL + 0.06).all(), rows
        assert rows.loc["3-10x", "width"] < rows.loc["30-100x", "width"]  # wider the farther out
    assert not differences(README.read_text(), render(tmp_path, ["coverage", "synthetic-weightings"]))
