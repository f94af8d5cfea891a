"""The `ensemble` method: per task, a weighted combination of the other methods, weighted by their backtests.

Each member's predictive distribution at a backtest row is Normal(its prediction, its calibrated error scale at the
row's distance) (`taskladder.fit.calibration`). On the backtests every member made (each origin's rows weighing as
one), the weights are chosen by `weighting`:

- stacking (Yao et al. 2018): the weights on the simplex that maximise the held-out log score of the members'
  mixture. A member earns weight by what it adds to the others, so members that err in opposite directions are
  combined rather than one winner kept;
- least_squares (stacked regression, Breiman 1996): the weights on the simplex that minimise the squared error of
  the weighted mean prediction: members whose errors have opposite signs cancel;
- pseudo_bma: weights proportional to exp(summed log score) of each member alone (picks a winner when one is
  sharper);
- equal: every member alike.

A task's weights are pulled toward the method's weights over every task by `shrink` pseudo-origins. The evidence
behind them is written with them (weights.csv): for every scheme, the weights fitted without each task's
longest-distance origin and that origin's log score and mean absolute error under them (what each scheme would have
predicted the farthest out). The ensemble's prediction is the weighted mean of its members'; its draws are the
weighted means of theirs, draw by draw (every method resamples the same ladders); its own backtests are the weighted
means of the members', and calibrate its intervals by distance like any method's. No target data is read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from taskladder.fit import calibration
from taskladder.fit.backtest import COLUMNS as BACKTEST_COLUMNS
from taskladder.fit.methods import (
    AT_CHANCE,
    DRAW_COLUMNS,
    PREDICTION_COLUMNS,
    MethodResult,
    interval_around,
)

log = logging.getLogger(__name__)

TABLES = ("predictions", "backtest", "draws", "calibration", "weights")  # what an ensemble's job writes
WEIGHTINGS = ("stacking", "least_squares", "pseudo_bma", "equal")
KEYS = ["task", "origin", "run"]


def members(methods: dict, name: str) -> list[str]:
    """The methods ensemble `name` combines: its `members`, else every method of `methods` that fits laws and
    predicts RC accuracy."""
    fitted = [m for m, spec in methods.items() if "ensemble" not in spec and spec.get("accuracy", "acc") == "acc"]
    return list(methods[name]["ensemble"].get("members") or fitted)


def scales(calibration_table: pd.DataFrame) -> dict[tuple[str, str], calibration.ErrorModel]:
    """(method, task) -> the member's accuracy error model, from its calibration table."""
    acc = calibration_table[calibration_table["value"] == "acc"]
    return {(r.method, r.task): calibration.ErrorModel(r.floor, r.growth, r.origins, int(r.cases), r.max_distance)
            for r in acc.itertuples()}


def densities(backtest: pd.DataFrame, members: list[str], models: dict) -> tuple[list[str], pd.DataFrame,
                                                                                      np.ndarray, np.ndarray]:
    """The members with backtests (in order), the backtest rows they all predicted (keys, actual, distance), and per
    member its prediction and its predictive density of the actual there: (members, rows, predictions (rows, M),
    densities (rows, M))."""
    ok = backtest[backtest["method"].isin(members) & backtest[["pred", "actual", "distance"]].notna().all(axis=1)]
    ok = ok.assign(distance=calibration.reach(ok))  # the densities are read at each backtest's reach
    wide = ok.pivot_table(index=KEYS, columns="method", values="pred", aggfunc="first").dropna()
    wide = wide.reindex(columns=[m for m in members if m in wide.columns])
    rows = wide.index.to_frame(index=False).merge(ok.drop_duplicates(KEYS)[KEYS + ["actual", "distance"]], on=KEYS)
    preds = wide.to_numpy()
    sd = np.empty_like(preds)
    for j, m in enumerate(wide.columns):
        for task in rows["task"].unique():
            mine = (rows["task"] == task).to_numpy()
            model = models.get((m, task), models.get((m, "(all tasks)"), calibration.NO_MODEL))
            sd[mine, j] = np.maximum(model.scale(rows.loc[mine, "distance"]), calibration.MIN_FLOOR)
    z = (rows["actual"].to_numpy()[:, None] - preds) / sd
    return list(wide.columns), rows, preds, np.exp(-0.5 * z * z) / (sd * np.sqrt(2 * np.pi))


def _stack(dens: np.ndarray, weights: np.ndarray, prior: np.ndarray | None, shrink: float,
           iterations: int = 500) -> np.ndarray:
    """Stacking weights: maximise sum_i w_i log sum_m pi_m p_im over the simplex (EM; `prior` pseudo-counts)."""
    m = dens.shape[1]
    pi = np.full(m, 1.0 / m)
    for _ in range(iterations):
        mix = np.maximum(np.sum(dens * pi, axis=1), 1e-300)
        resp = dens * pi / mix[:, None]
        counts = np.sum(weights[:, None] * resp, axis=0)
        new = counts + (shrink * prior if prior is not None else 0.0)
        new = new / np.sum(new)
        if np.max(np.abs(new - pi)) < 1e-10:
            return new
        pi = new
    return pi


def _least_squares(preds: np.ndarray, actual: np.ndarray, weights: np.ndarray, prior: np.ndarray | None,
                   shrink: float, iterations: int = 2000) -> np.ndarray:
    """Weights on the simplex minimising sum_i w_i (sum_m pi_m pred_im - y_i)^2 (+ shrink |pi - prior|^2 times the
    mean squared error), by exponentiated gradient steps (elementwise: the same on every machine)."""
    m = preds.shape[1]
    pi = np.full(m, 1.0 / m)
    scale = np.sum(weights * np.mean((preds - actual[:, None]) ** 2, axis=1)) / np.sum(weights) + 1e-12
    for _ in range(iterations):
        resid = np.sum(preds * pi, axis=1) - actual
        grad = 2 * np.sum(weights[:, None] * resid[:, None] * preds, axis=0) / np.sum(weights) / scale
        if prior is not None:
            grad = grad + 2 * shrink * (pi - prior) / np.sum(weights)
        new = pi * np.exp(-0.5 * grad)
        new = new / np.sum(new)
        if np.max(np.abs(new - pi)) < 1e-12:
            return new
        pi = new
    return pi


def _bma(dens: np.ndarray, weights: np.ndarray, prior: np.ndarray | None, shrink: float) -> np.ndarray:
    """Pseudo-BMA: exp of each member's summed log score, its mean pulled toward the prior's (`shrink` pseudo-rows)."""
    logp = np.log(np.maximum(dens, 1e-300))
    k = np.sum(weights)
    score = np.sum(weights[:, None] * logp, axis=0) / k
    if prior is not None:
        score = (k * score + shrink * prior) / (k + shrink)
    lw = k * score
    w = np.exp(lw - np.max(lw))
    return w / np.sum(w)


def fit_weights(dens: np.ndarray, preds: np.ndarray, rows: pd.DataFrame, scheme: str,
                shrink: float) -> dict[str, np.ndarray]:
    """task -> its members' weights under `scheme` (every origin's rows weighing as one)."""
    m = dens.shape[1]
    if scheme == "equal" or not len(rows):
        return {t: np.full(m, 1.0 / m) for t in rows["task"].unique()}
    w = calibration._weights((rows["task"] + "/" + rows["origin"]).to_numpy())
    if scheme == "least_squares":
        actual = rows["actual"].to_numpy(dtype=float)
        pooled = _least_squares(preds, actual, w, None, 0.0)
        return {t: _least_squares(preds[mine], actual[mine], w[mine], pooled, shrink) for t, mine in _tasks(rows)}
    if scheme == "stacking":
        pooled = _stack(dens, w, None, 0.0)
        return {t: _stack(dens[mine], w[mine], pooled, shrink) for t, mine in _tasks(rows)}
    logp = np.log(np.maximum(dens, 1e-300))
    overall = np.sum(w[:, None] * logp, axis=0) / np.sum(w)
    return {t: _bma(dens[mine], w[mine], overall, shrink) for t, mine in _tasks(rows)}


def _tasks(rows: pd.DataFrame):
    for task in rows["task"].unique():
        yield task, (rows["task"] == task).to_numpy()


def evidence(dens: np.ndarray, preds: np.ndarray, rows: pd.DataFrame, shrink: float) -> pd.DataFrame:
    """Per task and scheme: the weights fitted without the task's longest-distance origin, and that origin's mean
    log score (of the mixture) and mean absolute error (of the weighted prediction) under them."""
    out = []
    far = rows.groupby(["task", "origin"])["distance"].max().reset_index()
    far = far.loc[far.groupby("task")["distance"].idxmax()].set_index("task")["origin"]
    held = (rows["origin"].to_numpy() == rows["task"].map(far).to_numpy())
    for scheme in WEIGHTINGS:
        weights = fit_weights(dens[~held], preds[~held], rows[~held], scheme, shrink)
        for task, mine in _tasks(rows):
            test = mine & held
            pi = weights.get(task)
            if pi is None or not test.any():
                continue
            mix = np.maximum(np.sum(dens[test] * pi, axis=1), 1e-300)
            point = np.sum(preds[test] * pi, axis=1)
            out.append({"task": task, "weighting": scheme, "held_out_origin": far[task],
                        "held_out_rows": int(test.sum()), "log_score": float(np.mean(np.log(mix))),
                        "abs_error": float(np.mean(np.abs(point - rows.loc[test, "actual"].to_numpy())))})
    return pd.DataFrame(out, columns=["task", "weighting", "held_out_origin", "held_out_rows", "log_score",
                                      "abs_error"])


def _weighted(frame: pd.DataFrame, keys: list[str], value: str, w: pd.Series) -> pd.Series:
    """The weighted mean of `value` over the members per `keys`, weights renormalised over the members present."""
    frame = frame[frame["method"].isin(w.index) & frame[value].notna()]
    if frame.empty:  # no member predicted it (e.g. a task at chance)
        return pd.Series(dtype=float)
    weight = frame["method"].map(w).astype(float)
    num = (frame[value] * weight).groupby([frame[k] for k in keys]).sum()
    return num / weight.groupby([frame[k] for k in keys]).sum()


def cross_fitted(backtest: pd.DataFrame, order: list[str], rows: pd.DataFrame, preds: np.ndarray,
                 dens: np.ndarray, spec: dict, name: str) -> list[dict]:
    """The ensemble's backtests: at each origin, the members' predictions weighted as fitted without that origin
    (weights chosen on the rows they are judged on would make the ensemble look better than it is)."""
    keys = ("task", "origin", "kind", "run", "n", "d", "fitted_sizes", "fitted_max_n", "fitted_span", "ladder_span",
            "distance", "actual", "actual_se")
    first = backtest[backtest["method"].isin(order)].drop_duplicates(KEYS).set_index(KEYS)
    out = []
    for origin in rows["origin"].unique():
        mine = (rows["origin"] == origin).to_numpy()
        weights = fit_weights(dens[~mine], preds[~mine], rows[~mine], spec["weighting"], spec["shrink"])
        for i in np.flatnonzero(mine):
            task, run = rows.at[i, "task"], rows.at[i, "run"]
            w = weights.get(task, np.full(len(order), 1.0 / len(order)))
            source = first.loc[(task, origin, run)]
            out.append({**{k: source[k] for k in keys if k not in KEYS}, "task": task, "origin": origin, "run": run,
                        "method": name, "pred": float(np.sum(preds[i] * w))})
    return out


def combine(predictions: pd.DataFrame, backtest: pd.DataFrame, draws: pd.DataFrame, models: dict,
            members: list[str], name: str, spec: dict, intervals: dict, skip_tasks) -> tuple[MethodResult,
                                                                                             pd.DataFrame]:
    """The ensemble's tables from its members' predictions, backtests, draws and error models; and its weights
    (with the evidence behind them)."""
    order, rows, preds, dens = densities(backtest, members, models)
    weights = fit_weights(dens, preds, rows, spec["weighting"], spec["shrink"])
    if not order:  # no member has backtests (a ladder too small for them): every member alike
        order = list(members)
    weights = {t: weights.get(t, np.full(len(order), 1.0 / len(order))) for t in predictions["task"].unique()}
    table = pd.DataFrame([{"task": t, "method": m, "weight": float(w[j]), "weighting": spec["weighting"]}
                          for t, w in weights.items() for j, m in enumerate(order)],
                         columns=["task", "method", "weight", "weighting"])
    proof = evidence(dens, preds, rows, spec["shrink"]) if len(rows) else pd.DataFrame(columns=["task", "weighting"])
    bt_rows = cross_fitted(backtest, order, rows, preds, dens, spec, name)
    pred_rows, draw_frames = [], []
    for task, w in table.groupby("task", sort=False):
        w = w.set_index("method")["weight"]
        p = predictions[(predictions["task"] == task) & predictions["method"].isin(w.index)]
        d = draws[(draws["task"] == task) & draws["method"].isin(w.index)]
        for target, frame in p.groupby("target", sort=False):
            first = frame.iloc[0]
            mean = _weighted(frame, ["target"], "pred_acc", w)
            pred = float(mean.iloc[0]) if len(mean) else np.nan
            act = first["actual_acc"]
            ens = _weighted(d[d["target"] == target], ["draw"], "pred_acc", w) if len(d) else pd.Series(dtype=float)
            pred_rows.append({"method": name, "task": task, "target": target, "n": first["n"], "d": first["d"],
                              "pred_acc": pred, "actual_acc": act, "abs_error": abs(pred - act),
                              "rel_error": abs(pred - act) / act, "distance": first["distance"],
                              "note": "" if np.isfinite(pred) else (AT_CHANCE if task in skip_tasks else
                                                                    "no member predicted it"), "_draws": ens})
            draw_frames.append(pd.DataFrame({"method": name, "task": task, "target": target, "draw": ens.index,
                                             "pred_loss": np.nan, "pred_acc": ens.to_numpy()}))
    level, min_sizes, shrink = intervals["level"], intervals["calibration_sizes"], intervals["shrink"]
    bt = calibration.calibrate_backtest(pd.DataFrame(bt_rows, columns=[
        c for c in BACKTEST_COLUMNS if c not in ("lo", "hi", "error", "covered", "loss_lo", "loss_hi")]),
        level, skip_tasks, min_sizes, shrink)
    own = calibration.task_models(bt, skip_tasks, min_sizes, shrink)
    for row in pred_rows:
        hw = own.get(row["task"], own.get("", calibration.NO_MODEL)).half_width(row["distance"], level)
        row["pred_lo"], row["pred_hi"] = interval_around(row["pred_acc"], hw, row.pop("_draws").to_numpy(), np.empty(0),
                                                   level, (0.0, 1.0))
    result = MethodResult(fits=pd.DataFrame(), predictions=pd.DataFrame(pred_rows, columns=PREDICTION_COLUMNS),
                          points=pd.DataFrame(), backtest=bt.reindex(columns=BACKTEST_COLUMNS),
                          draws=pd.concat(draw_frames, ignore_index=True) if draw_frames else
                          pd.DataFrame(columns=DRAW_COLUMNS),
                          calibration=pd.DataFrame(calibration.model_rows(own, name, level, "acc")))
    return result, pd.concat([table.assign(kind="weight"), proof.assign(kind="evidence")], ignore_index=True)[
        ["kind", "task", "method", "weight", "weighting", "held_out_origin", "held_out_rows", "log_score",
         "abs_error"]]


@dataclass(frozen=True)
class EnsembleJob:
    """Everything an ensemble's job depends on, as the plan builds it (`run_ensemble_job` consumes it whole)."""

    method: str  # its name
    spec: dict  # its `ensemble` section: members, weighting, shrink
    tasks: list[str]
    options: dict  # the `fit` options and the seed (which tasks are at chance)
    intervals: dict  # the `intervals` options
    group: str | None = None


def run_ensemble_job(job: EnsembleJob, predictions, backtest, draws, calibrations, out: dict) -> MethodResult:
    """Read the members' tables (lists of files), combine them and write the ensemble's tables (`out`: table ->
    path). Tasks every member found at chance are left out of the calibration."""
    from taskladder.base.files import write_csv

    def read(files) -> pd.DataFrame:
        """The members' tables of one kind (a member without rows adds none: an empty table's columns have no
        type to mix)."""
        frames = [pd.read_csv(f) for f in files]
        frames = [f for f in frames if len(f)] or frames[:1]
        return pd.concat(frames, ignore_index=True).drop(columns="group", errors="ignore")

    member_predictions = read(predictions)
    present = sorted(set(member_predictions["method"]))
    notes = member_predictions.groupby("task")["note"].apply(lambda s: s.fillna("").str.startswith("at chance").any())
    skip = list(notes[notes].index)  # at chance is the ladder's, the same for every member that was fitted
    result, weights = combine(member_predictions, read(backtest), read(draws), scales(read(calibrations)), present,
                              job.method, job.spec, job.intervals, skip)
    for row in result.predictions.itertuples():  # a line per task and target in the job's log
        log.info("%s %s %s: %s", job.method, row.task, row.target, row.note or
                 f"{100 * row.pred_acc:.1f}% [{100 * row.pred_lo:.1f}, {100 * row.pred_hi:.1f}]")
    tables = {"predictions": result.predictions, "backtest": result.backtest, "draws": result.draws,
              "calibration": result.calibration, "weights": weights}
    for table, frame in tables.items():
        write_csv(frame if job.group is None else frame.assign(group=job.group), out[table])
    return result
