import numpy as np
import pytest

from taskladder.fit import laws
from taskladder.fit.laws import Law
from taskladder.fit.solver import cholesky_solve, fit_law, huber, solve

N = np.repeat([1.9e8, 3.7e8, 7.6e8, 1.3e9], 4)
D = N * 20 * np.tile([1, 2, 5, 10], 4)


def test_huber_is_quadratic_then_linear():
    loss, grad = huber(np.array([0.0005, -0.002]), delta=1e-3)
    np.testing.assert_allclose(loss, [0.5 * 0.0005**2, 1e-3 * (0.002 - 0.0005)])
    np.testing.assert_allclose(grad, [0.0005, -1e-3])


def test_step1_recovers_known_parameters_from_noiseless_points():
    truth = {"A": 405.66, "alpha": 0.40, "B": 10.16, "beta": 0.15, "E": 0.72}  # paper's PIQA law
    y = laws.power_nd(laws.power_nd.from_published(truth), {"n": N, "d": D})
    fit = fit_law(laws.power_nd, {"n": N, "d": D}, y, objective="huber_log", multistart=4)
    assert fit.converged and fit.starts_agree
    for k, v in truth.items():
        assert fit.published[k] == pytest.approx(v, rel=1e-3), k
    assert fit.fit_error < 1e-6


def test_step1_with_noise_predicts_held_out_scale():
    rng = np.random.default_rng(1)
    truth = laws.power_nd.from_published({"A": 38.07, "alpha": 0.23, "B": 100.09, "beta": 0.24, "E": 0.45})
    y = laws.power_nd(truth, {"n": N, "d": D}) * np.exp(rng.normal(0, 0.003, N.size))
    fit = fit_law(laws.power_nd, {"n": N, "d": D}, y, objective="huber_log")
    target = {"n": np.array([6.9e9]), "d": np.array([3.9e12])}
    assert fit(target)[0] == pytest.approx(laws.power_nd(truth, target)[0], rel=0.02)


def test_step2_recovers_sigmoid():
    rng = np.random.default_rng(2)
    truth = np.array([-0.73, 0.77, 12.74, 0.99])  # paper's HellaSwag law
    x = rng.uniform(0.6, 1.3, 400)
    y = laws.sigmoid(truth, {"x": x}) + rng.normal(0, 0.002, x.size)
    fit = fit_law(laws.sigmoid, {"x": x}, y, start=(-0.75, 0.9, 3, 1), multistart=4)
    assert fit.converged and fit.starts_agree
    np.testing.assert_allclose(fit.params, truth, rtol=0.02)


@pytest.mark.parametrize("name,truth,inputs", [
    ("power_flops", [np.log(300.0), 0.12, 0.6], {"flops": 6 * N * D}),
    ("log_sigmoid", [-0.35, 1.2, 3.0], {"x": np.linspace(0.8, 1.6, 30)}),
    ("linear", [-0.45, 1.05], {"x": np.linspace(0.8, 1.6, 30)}),
])
def test_other_laws_recover_their_parameters(name, truth, inputs):
    law = laws.get(name)
    y = law(truth, inputs)
    objective = "huber_log" if name == "power_flops" else "squares"
    fit = fit_law(law, inputs, y, objective=objective)
    np.testing.assert_allclose(fit.params, truth, rtol=1e-3)


def test_early_stop_is_reported_as_not_converged():
    truth = laws.power_nd.from_published({"A": 38.07, "alpha": 0.23, "B": 100.09, "beta": 0.24, "E": 0.45})
    y = laws.power_nd(truth, {"n": N, "d": D})
    fit = fit_law(laws.power_nd, {"n": N, "d": D}, y, objective="huber_log", max_iter=3)
    assert not fit.converged


def _two_minima_law():
    # h(p) = (p^2 - 1)^2 + 0.2 p has a shallow minimum near p = +1 and a deeper one near p = -1
    h = lambda p: (p ** 2 - 1) ** 2 + 0.2 * p  # noqa: E731
    dh = lambda p: 4 * p * (p ** 2 - 1) + 0.2  # noqa: E731
    col = lambda p: np.asarray(p, dtype=float)[..., 0, None]  # noqa: E731  (batched: a column per row)
    return Law(name="two_minima", inputs=("x",), params=("p",), start=(0.9,), bounds=((-2.0, 2.0),),
               value=lambda p, x: x["x"] * h(col(p)), jacobian=lambda p, x: (x["x"] * dh(col(p)))[..., None],
               formula="x * h(p)")


def test_the_lowest_minimum_wins_and_the_start_is_told():
    law = _two_minima_law()
    x = {"x": np.linspace(1, 2, 10)}
    y = np.full(10, -0.5)
    alone = fit_law(law, x, y, objective="squares", multistart=0)
    assert alone.params[0] > 0 and alone.starts_agree  # from the start alone: the shallow basin
    fit = fit_law(law, x, y, objective="squares", multistart=8, seed=0)
    assert fit.params[0] < 0  # some start found the deeper minimum, and it is the fit
    assert not fit.starts_agree and fit.start_objective > fit.objective
    assert fit.n_starts == 9


def test_minima_within_tolerance_are_kept_for_the_interval():
    """A flat valley: y = a * b * x, every (a, b) with a * b = 1 fits exactly."""
    law = Law(name="product", inputs=("x",), params=("a", "b"), start=(0.5, 0.5), bounds=((0.1, 10.0), (0.1, 10.0)),
              value=lambda p, x: np.asarray(p)[..., 0, None] * np.asarray(p)[..., 1, None] * x["x"],
              jacobian=lambda p, x: np.stack(np.broadcast_arrays(np.asarray(p)[..., 1, None] * x["x"],
                                                                 np.asarray(p)[..., 0, None] * x["x"]), axis=-1),
              formula="a b x")
    x = {"x": np.linspace(1, 2, 10)}
    fit = fit_law(law, x, x["x"], objective="squares", multistart=6, seed=1)
    assert fit.objective < 1e-20
    products = fit.minima[:, 0] * fit.minima[:, 1]
    np.testing.assert_allclose(products, 1.0, rtol=1e-6)
    assert len(fit.minima) == 7 and np.ptp(fit.minima[:, 0]) > 0.5  # different points of the valley


def test_solve_runs_a_batch_of_problems_with_weights():
    """Each row is its own problem: its own outputs and weights, the same answer as fitting it alone."""
    truth = laws.power_nd.from_published({"A": 38.07, "alpha": 0.23, "B": 100.09, "beta": 0.24, "E": 0.45})
    rng = np.random.default_rng(3)
    y = laws.power_nd(truth, {"n": N, "d": D}) * np.exp(rng.normal(0, 0.003, (3, N.size)))
    w = np.ones_like(y)
    w[1, :4] = 0  # row 1 leaves the smallest size out
    w[2] = 2.0  # row 2 counts every point twice: the same minimum as row 0's points
    y[2] = y[0]
    batch = solve(laws.power_nd, {"n": N, "d": D}, y, np.tile(truth, (3, 1)), objective="huber_log", weights=w)
    assert batch.converged.all()
    alone = fit_law(laws.power_nd, {"n": N[4:], "d": D[4:]}, y[1, 4:], objective="huber_log", start=truth)
    np.testing.assert_allclose(batch.params[1], alone.params, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(batch.params[2], batch.params[0], rtol=1e-6, atol=1e-9)
    assert batch.objective[2] == pytest.approx(2 * batch.objective[0])


def test_cholesky_solve_by_hand():
    a = np.array([[[4.0, 2.0], [2.0, 3.0]], [[1.0, 0.0], [0.0, 2.0]]])
    b = np.array([[2.0, 1.0], [3.0, 4.0]])
    np.testing.assert_allclose(cholesky_solve(a, b), [[0.5, 0.0], [3.0, 2.0]])


def test_a_non_finite_objective_is_never_converged():
    """A start where the law is not positive everywhere gives an infinite Huber-log objective."""
    law = laws.power_flops
    x = {"flops": np.geomspace(1e18, 1e21, 8)}
    y = np.full(8, -1.0) + 2.0  # positive targets
    sol = solve(law, x, y, np.array([[0.0, 0.1, -5.0]]), objective="huber_log")  # E below bounds is clipped to 0
    assert np.isfinite(sol.objective[0])
    bad = solve(laws.linear, {"x": np.array([1.0, 2.0, 3.0])}, np.array([1.0, 2.0, 3.0]),
                np.array([[-1.0, -10.0]]), objective="huber_log")  # linear law negative everywhere: log undefined
    assert not np.isfinite(bad.objective[0]) and not bad.converged[0]


def test_bad_points_are_rejected_with_the_reason():
    x = {"n": N, "d": D}
    with pytest.raises(ValueError, match="NaN"):
        fit_law(laws.power_nd, x, np.full(N.size, np.nan), objective="huber_log")
    with pytest.raises(ValueError, match="positive"):
        fit_law(laws.power_nd, x, np.zeros(N.size), objective="huber_log")
    with pytest.raises(ValueError, match="cannot determine"):
        fit_law(laws.power_nd, {"n": N[:3], "d": D[:3]}, np.ones(3), objective="huber_log")
    with pytest.raises(ValueError, match="missing"):
        fit_law(laws.power_nd, {"n": N}, np.ones(N.size), objective="huber_log")
