"""What every figure shares: axis limits around the data, curves cut at the panel's edge, sizes as people write
them, a figure that says why it is empty, saved atomically."""

import os
import stat

import numpy as np
import pytest

from taskladder.report import style


def test_limits_pad_the_finite_values():
    assert style._limits([1.0, 2.0, np.nan], [3.0], pad=0.1) == pytest.approx((0.8, 3.2))
    lo, hi = style._limits([1e18, 1e20, -1.0], log=True, pad=0.5)
    assert lo == pytest.approx(1e17) and hi == pytest.approx(1e21)  # padded in decades, non-positive left out
    assert style._limits([np.nan]) is None and style._limits([5.0], pad=0.1) == pytest.approx((4.5, 5.5))


def test_curves_stop_at_the_panel_edge_and_sizes_read_as_written():
    np.testing.assert_array_equal(style._clipped([0.0, 1.0, 2.0], (0.5, 1.5)), [np.nan, 1.0, np.nan])
    assert [style._size(n) for n in (190_354_176, 6.9e9, 4_500, 12)] == ["190M", "6.9B", "4.5K", "12"]
    colors = style._colors([3, 1, 2, 1])
    assert list(colors) == [1, 2, 3] and colors[1] != colors[3]


def test_an_empty_figure_says_why_and_keeps_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        style._nothing_to_draw(tmp_path / "backtest.png", "the ladder has 2 model sizes: no backtest")
    finally:
        os.umask(old)
    path = tmp_path / "backtest.png"
    assert path.read_bytes()[:4] == b"\x89PNG" and stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["backtest.png"]
