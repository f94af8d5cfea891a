import numpy as np
import pandas as pd
import pytest

from taskladder.fit.smoothing import (
    drop_first,
    final_points,
    runs_of,
    smooth,
    step2_points,
    trailing_mean,
)


def test_trailing_mean_by_hand():
    # window 3: first points average what exists so far
    np.testing.assert_allclose(trailing_mean([1, 2, 3, 4, 5, 6], 3), [1, 1.5, 2, 3, 4, 5])
    np.testing.assert_allclose(trailing_mean([4.0, 2.0], 5), [4, 3])
    np.testing.assert_allclose(trailing_mean([1, 2, 3], 1), [1, 2, 3])
    with pytest.raises(ValueError, match="window"):
        trailing_mean([1], 0)


def _run(name, n, losses, accs=None, steps=None):
    steps = steps if steps is not None else list(range(100, 100 * (len(losses) + 1), 100))
    accs = accs if accs is not None else [0.3] * len(losses)
    return pd.DataFrame({"run": name, "n": n, "step": steps, "tokens": [s * 1000 for s in steps], "task": "piqa",
                         "task_loss": losses, "acc": accs, "task_ce": 1.0, "lm_loss": 3.0})


def test_drop_first_drops_ceil_ten_percent_in_step_order():
    frame = _run("r", 1, list(range(11)), steps=list(range(1100, 0, -100)))  # unsorted steps
    kept = drop_first(frame, 0.1)
    assert len(kept) == 9  # ceil(1.1) = 2 dropped
    assert kept["step"].min() == 300


def test_step2_points_drop_then_smooth_per_run():
    metrics = pd.concat([_run("a", 1, [10, 1, 2, 3, 4, 5, 6, 7, 8, 9]), _run("b", 2, [5.0] * 10)])
    pts = step2_points(metrics, "piqa", ["task_loss"], drop=0.1, window=5)
    a = pts[pts["run"] == "a"]["task_loss"].to_numpy()
    # 10 dropped (first ceil(10%) = 1), then window 5 over 1..9
    np.testing.assert_allclose(a, [1, 1.5, 2, 2.5, 3, 4, 5, 6, 7])
    assert (pts[pts["run"] == "b"]["task_loss"] == 5).all()
    half = step2_points(metrics, "piqa", ["task_loss"], drop=0.5, window=1)  # TaskCE's selection
    np.testing.assert_allclose(half[half["run"] == "a"]["task_loss"], [5, 6, 7, 8, 9])
    ranged = step2_points(metrics, "piqa", ["task_loss"], drop=0.0, window=1, steps=(300, 500))
    np.testing.assert_allclose(ranged[ranged["run"] == "a"]["task_loss"], [2, 3, 4])


def test_final_points_mean_of_last_checkpoints():
    metrics = pd.concat([_run("a", 7, [9, 8, 7, 6, 5, 4, 3]), _run("b", 9, [2, 1])])
    pts = final_points(metrics, "piqa", ["task_loss"], last=5).set_index("run")
    assert pts.loc["a", "task_loss"] == pytest.approx(5.0)  # mean of 7..3
    assert pts.loc["a", "d"] == 700 * 1000 and pts.loc["a", "n"] == 7
    assert pts.loc["b", "task_loss"] == pytest.approx(1.5)
    assert pts.loc["a", "flops"] == 6 * 7 * 700_000
    metrics["flops"] = metrics["tokens"] * 10.0  # measured FLOPs win over 6ND
    assert final_points(metrics, "piqa", ["task_loss"]).set_index("run").loc["a", "flops"] == 7_000_000


def test_missing_task_is_an_error():
    with pytest.raises(ValueError, match="hellaswag"):
        final_points(_run("a", 1, [1.0]), "hellaswag", ["task_loss"])
    with pytest.raises(ValueError, match="hellaswag"):
        step2_points(_run("a", 1, [1.0]), "hellaswag", ["task_loss"])


def test_a_run_with_one_checkpoint_keeps_it():
    """Iso-FLOP sweeps log final models only: nothing is dropped, the value is its own average."""
    metrics = pd.concat([_run("a", 1, [4.0]), _run("b", 2, [3.0, 2.0])])
    pts = step2_points(metrics, "piqa", ["task_loss"], drop=0.1, window=5)
    assert pts.set_index("run").loc["a", "task_loss"] == 4.0
    np.testing.assert_allclose(pts[pts.run == "b"]["task_loss"], [2.0])  # ceil(0.2) = 1 of 2 dropped
    np.testing.assert_allclose(smooth([7.0], drop=0.5, window=3), [7.0])
    assert final_points(metrics, "piqa", ["task_loss"]).set_index("run").loc["a", "task_loss"] == 4.0


def test_runs_differing_only_by_seed_are_one_step1_point():
    metrics = pd.concat([_run("a-s0", 7, [9, 8, 6]), _run("a-s1", 7, [9, 8, 4]), _run("b", 9, [2, 1])])
    pts = final_points(metrics, "piqa", ["task_loss"], last=1).set_index("run")
    assert pts.loc["a-s0+a-s1", "task_loss"] == 5.0 and pts.loc["a-s0+a-s1", "seeds"] == 2
    assert pts.loc["b", "seeds"] == 1


def test_the_order_of_runs_and_rows_does_not_matter():
    metrics = pd.concat([_run("b", 9, [5, 4, 3]), _run("a", 7, [9, 8, 7, 6])])
    shuffled = metrics.sample(frac=1, random_state=0)
    assert [r.name for r in runs_of(shuffled, "piqa", ["task_loss"])] == ["a", "b"]  # by N, then D, then name
    pd.testing.assert_frame_equal(step2_points(metrics, "piqa", ["task_loss"]), step2_points(shuffled, "piqa", ["task_loss"]))
