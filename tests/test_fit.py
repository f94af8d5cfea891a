import numpy as np
import pytest

from taskladder import laws
from taskladder.fit import fit_law, huber
from taskladder.laws import Law

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
    assert fit.covariance is not None


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
    fit = fit_law(laws.power_nd, {"n": N, "d": D}, y, objective="huber_log", maxiter=3)
    assert not fit.converged


def _two_minima_law():
    # h(p) = (p^2 - 1)^2 + 0.2 p has a shallow minimum near p = +1 and a deeper one near p = -1
    h = lambda p: (p[0] ** 2 - 1) ** 2 + 0.2 * p[0]  # noqa: E731
    dh = lambda p: 4 * p[0] * (p[0] ** 2 - 1) + 0.2  # noqa: E731
    return Law(name="two_minima", inputs=("x",), params=("p",), start=(0.9,), bounds=((-2.0, 2.0),),
               value=lambda p, x: x["x"] * h(p), jacobian=lambda p, x: (x["x"] * dh(p))[:, None],
               formula="x * h(p)")


def test_multistart_reports_a_lower_minimum_elsewhere():
    law = _two_minima_law()
    x = {"x": np.linspace(1, 2, 10)}
    y = np.full(10, -0.5)
    fit = fit_law(law, x, y, objective="squares", multistart=8, seed=0)
    assert fit.params[0] > 0  # the primary start stays in the shallow basin
    assert not fit.starts_agree
    assert fit.best_start_objective < fit.objective
    best = fit_law(law, x, y, objective="squares", multistart=8, seed=0, use_best_start=True)
    assert best.params[0] < 0 and best.objective == fit.best_start_objective and not best.starts_agree


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
