import warnings

import numpy as np
import pytest

from taskladder.fit import laws

RNG = np.random.default_rng(0)
INPUTS = {
    "n": np.array([1.9e8, 3.7e8, 7.6e8, 1.3e9]),
    "d": np.array([3.8e9, 1.5e10, 3.7e10, 2.6e11]),
    "flops": np.array([4e18, 3e19, 2e20, 2e21]),
    "x": np.array([0.6, 0.9, 1.2, 1.6]),
}
POINTS = {
    "power_nd": [np.log(38.07), np.log(100.09), 0.23, 0.24, 0.45],
    "power_flops": [np.log(200.0), 0.1, 0.5],
    "sigmoid": [-0.74, 0.62, 4.83, 1.0],
    "log_sigmoid": [-0.3, 1.1, 2.5],
    "linear": [-0.4, 1.1],
    "sigmoid_nd": [np.log(38.07), np.log(100.09), 0.23, 0.24, 0.45, -0.7, 0.95],
}


@pytest.mark.parametrize("name", sorted(laws.LAWS))
def test_jacobian_matches_finite_differences(name):
    law = laws.get(name)
    p = np.array(POINTS[name], dtype=float)
    analytic = law.jacobian(p, INPUTS)
    numeric = np.empty_like(analytic)
    for i in range(p.size):
        h = 1e-6 * max(1.0, abs(p[i]))
        up, down = p.copy(), p.copy()
        up[i] += h
        down[i] -= h
        numeric[:, i] = (law(up, INPUTS) - law(down, INPUTS)) / (2 * h)
    np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("name", sorted(laws.LAWS))
def test_published_roundtrip(name):
    law = laws.get(name)
    p = np.array(POINTS[name])
    np.testing.assert_allclose(law.from_published(law.published(p)), p)


def test_power_nd_matches_the_formula():
    pub = {"A": 38.07, "alpha": 0.23, "B": 100.09, "beta": 0.24, "E": 0.45}
    p = laws.power_nd.from_published(pub)
    expected = 38.07 / INPUTS["n"] ** 0.23 + 100.09 / INPUTS["d"] ** 0.24 + 0.45
    np.testing.assert_allclose(laws.power_nd(p, INPUTS), expected)


def test_sigmoid_limits():
    p = [-0.74, 0.62, 4.83, 1.0]
    assert laws.sigmoid(p, {"x": np.array([0.0])})[0] == pytest.approx(1 - 0.74 / (1 + np.exp(4.83 * 0.62)))
    assert laws.sigmoid(p, {"x": np.array([100.0])})[0] == pytest.approx(0.26)


def test_unknown_law_names_the_choices():
    with pytest.raises(KeyError, match="power_nd"):
        laws.get("power_law")


def test_a_vanishing_power_term_is_zero_without_a_warning():
    """A fit that drives alpha to hundreds (the N term vanishes) must not warn on every evaluation."""
    x = {"n": np.array([1e5, 1e6]), "d": np.array([1e6, 1e7]), "flops": np.array([1e11, 1e12])}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nd = laws.power_nd.value(np.array([3.0, 6.0, 500.0, 0.2, 1.0]), x)
        flops = laws.power_flops.value(np.array([3.0, 500.0, 1.0]), x)
        jac = laws.power_nd.jacobian(np.array([3.0, 6.0, 500.0, 0.2, 1.0]), x)
    np.testing.assert_allclose(nd, np.exp(6.0) / x["d"] ** 0.2 + 1.0)
    np.testing.assert_allclose(flops, 1.0)
    assert np.all(jac[:, [0, 2]] == 0)


@pytest.mark.parametrize("name", sorted(laws.LAWS))
def test_a_batch_of_parameters_is_row_by_row(name):
    """(B, P) parameters give (B, n) values and a (B, n, P) Jacobian, each row the law at that row's parameters;
    inputs may be shared (n,) or per row (B, n)."""
    law = laws.get(name)
    p = np.array(POINTS[name], dtype=float)
    batch = np.stack([p, p * 1.01, p * 0.99])
    per_row = {k: np.stack([v, v * 1.1, v * 0.9]) for k, v in INPUTS.items()}
    for x, rows in ((INPUTS, [INPUTS] * 3), (per_row, [{k: v[i] for k, v in per_row.items()} for i in range(3)])):
        values, jac = law.value(batch, x), law.jacobian(batch, x)
        assert values.shape == (3, 4) and jac.shape == (3, 4, len(p))
        for i in range(3):
            np.testing.assert_array_equal(values[i], law.value(batch[i], rows[i]))
            np.testing.assert_array_equal(jac[i], law.jacobian(batch[i], rows[i]))
