"""Figures in the spirit of the paper's Figures 2-4, one panel per task.

- step 1: the intermediate (task loss) against training tokens, one colour per model size,
  fitted curves extended to the target, predicted (open star, with its interval) and actual
  (filled) target.
- step 2: accuracy against the intermediate, smoothed checkpoints, the fitted curve, the target's
  prediction with its intervals on both axes, and its actual.
- chained: accuracy against training compute, the chained prediction per model size, the
  target's prediction with its interval; a small table in the panel gives each target's
  prediction, interval, actual and error.
- members (the ensemble): per task each member's prediction and interval, its weight, the
  ensemble's, and the actual.

Panel titles are red where a fit did not converge. A panel whose predictions are flagged
(`taskladder.predictability`) names the flags under its title; a task at chance on the ladder is
not predictable at this scale: its fits are not drawn as laws. Axis limits come from the data,
the targets and their intervals; curves stay inside them.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from taskladder import laws  # noqa: E402
from taskladder.io import atomic_path  # noqa: E402
from taskladder.io import run_flops  # noqa: E402

TARGET_COLOR = "#d62728"
FLAG_COLOR = "#b35806"
LABELS = {"task_loss": "task loss (bpb)", "task_ce": "TaskCE (nats)", "lm_loss": "LM loss (nats/token)"}


def _grid(n: int, width: float = 3.6, height: float = 3.0):
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    return fig, list(axes.flat[:n])


def _colors(ns):
    ns = sorted(set(ns))
    cmap = plt.get_cmap("viridis")
    return {n: cmap(i / max(1, len(ns) - 1) * 0.85) for i, n in enumerate(ns)}


def _size(n: float) -> str:
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:.3g}"


def _fit_row(fits: pd.DataFrame, task: str, step: str):
    rows = fits[(fits["task"] == task) & (fits["step"] == step)]
    return None if rows.empty else rows.iloc[0]


def _fit_of(fits: pd.DataFrame, task: str, step: str):
    """(law, parameters, converged) of a task's step; (None, None, True) where there is none."""
    row = _fit_row(fits, task, step)
    if row is None:
        return None, None, True
    law = laws.get(row["law"])
    return law, law.from_published(row.to_dict()), bool(row["converged"])


def _flags(predictions: pd.DataFrame, task: str) -> list[str]:
    if "flags" not in predictions:
        return []
    found = predictions.loc[predictions["task"] == task, "flags"].fillna("")
    return sorted({f for text in found for f in str(text).split(";") if f})


def _title(ax, task: str, converged: bool, flags: list[str]):
    lines = [task]
    if not converged:
        lines.append("(fit not converged)")
    if "at_chance" in flags:
        lines.append("at chance: not predictable at this scale")
    elif flags:
        lines.append("flagged: " + ", ".join(flags))
    ax.set_title("\n".join(lines), fontsize=8, color="black" if converged else TARGET_COLOR)
    if flags and converged:
        ax.title.set_color(FLAG_COLOR)


def _limits(*arrays, pad: float = 0.08, log: bool = False):
    """Axis limits around every finite value given (data, targets, intervals)."""
    values = np.concatenate([np.ravel(np.asarray(a, dtype=float)) for a in arrays if a is not None])
    values = values[np.isfinite(values) & ((values > 0) if log else True)]
    if not len(values):
        return None
    lo, hi = values.min(), values.max()
    if log:
        return lo / (hi / lo) ** pad, hi * (hi / lo) ** pad
    span = (hi - lo) or abs(hi) or 1.0
    return lo - pad * span, hi + pad * span


def _clipped(y, limits):
    """A curve with the points outside the axis limits left out (so it stops at the panel's edge)."""
    y = np.asarray(y, dtype=float).copy()
    if limits is not None:
        y[(y < limits[0]) | (y > limits[1])] = np.nan
    return y


def _targets(predictions: pd.DataFrame, task: str) -> pd.DataFrame:
    return predictions[predictions["task"] == task]


def _errorbar(ax, x, y, lo=None, hi=None, xlo=None, xhi=None):
    """The target's prediction: an open star with its interval (where there is one)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    yerr = None if lo is None else np.abs(np.vstack([y - np.asarray(lo, float), np.asarray(hi, float) - y]))
    xerr = None if xlo is None else np.abs(np.vstack([x - np.asarray(xlo, float), np.asarray(xhi, float) - x]))
    if yerr is not None or xerr is not None:
        ax.errorbar(x, y, yerr=yerr, xerr=xerr, fmt="none", ecolor=TARGET_COLOR, elinewidth=1, capsize=3, zorder=4)
    ax.scatter(x, y, marker="*", s=120, facecolor="white", edgecolor=TARGET_COLOR, zorder=5, label="target predicted")


def _actual(ax, x, y):
    ax.scatter(x, y, marker="o", s=26, color=TARGET_COLOR, zorder=6, label="target actual")


def _table(ax, tg: pd.DataFrame):
    """A small table of each target's prediction, interval, actual and error, in the panel's corner."""
    lines = []
    for t in tg.itertuples():
        text = f"{t.target}: {100 * t.pred_acc:.1f}"
        if np.isfinite(getattr(t, "pred_lo", np.nan)):
            text += f" [{100 * t.pred_lo:.1f}, {100 * t.pred_hi:.1f}]"
        if np.isfinite(t.actual_acc):
            text += f"  actual {100 * t.actual_acc:.1f}, err {100 * t.abs_error:.1f}"
        lines.append(text)
    if lines:
        ax.text(0.02, 0.97, "\n".join(lines), transform=ax.transAxes, ha="left", va="top", fontsize=6,
                family="monospace", color=TARGET_COLOR,
                bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": "0.8", "alpha": 0.9})


def step1_figure(fits, predictions, points, tasks):
    fig, axes = _grid(len(tasks))
    for ax, task in zip(axes, tasks):
        law, p, ok = _fit_of(fits, task, "step1")
        flags = _flags(predictions, task)
        pts = points[(points["task"] == task) & (points["fit_step"] == "step1")]
        tg = _targets(predictions, task)
        single = "step2" not in set(fits.loc[fits["task"] == task, "step"])
        y, lo, hi, actual = (("pred_acc", "pred_lo", "pred_hi", "actual_acc") if single
                             else ("pred_loss", "loss_lo", "loss_hi", "actual_loss"))
        flops = law.inputs == ("flops",)
        xcol = "flops" if flops else "d"
        tx = run_flops(tg["n"], tg["d"]) if flops else tg["d"].to_numpy(dtype=float)
        xlim = _limits(pts[xcol], tx, log=True)
        ylim = _limits(pts["y"], tg[y], tg.get(lo), tg.get(hi), tg[actual])
        colors = _colors(list(pts["n"]) + list(tg["n"]))
        drawn = "at_chance" not in flags
        sizes = [None] if flops else sorted(set(pts["n"]) | set(tg["n"]))
        for n in sizes:
            grid = np.geomspace(*xlim, 200)
            x = {"flops": grid} if flops else {"n": np.full_like(grid, n), "d": grid}
            if drawn:
                ax.plot(grid, _clipped(law(p, x), ylim), color="gray" if flops else colors[n], lw=1,
                        label=None if flops else _size(n))
        ax.scatter(pts[xcol], pts["y"], c=[colors[n] for n in pts["n"]], s=18, zorder=3)
        _errorbar(ax, tx, tg[y], tg.get(lo), tg.get(hi))
        _actual(ax, tx, tg[actual])
        ax.set_xscale("log")
        ax.set_xlim(*xlim)
        if ylim:
            ax.set_ylim(*ylim)
        ax.set_xlabel("training FLOPs" if flops else "training tokens D")
        row = _fit_row(fits, task, "step1")
        ax.set_ylabel("accuracy" if single else LABELS.get(row["y"], "intermediate"))
        _title(ax, task, ok, flags)
    axes[0].legend(fontsize=6, loc="upper right")
    return fig


def step2_figure(fits, predictions, points, tasks):
    fig, axes = _grid(len(tasks))
    for ax, task in zip(axes, tasks):
        law, p, ok = _fit_of(fits, task, "step2")
        flags = _flags(predictions, task)
        if law is None:
            ax.text(0.5, 0.5, "single-step method:\nno step 2", ha="center", va="center", transform=ax.transAxes)
            _title(ax, task, True, flags)
            continue
        pts = points[(points["task"] == task) & (points["fit_step"] == "step2")]
        tg = _targets(predictions, task)
        colors = _colors(pts["n"])
        ax.scatter(pts["x"], pts["y"], c=[colors[n] for n in pts["n"]], s=6, alpha=0.6)
        xlim = _limits(pts["x"], tg["pred_loss"], tg.get("loss_lo"), tg.get("loss_hi"), tg["actual_loss"])
        ylim = _limits(pts["y"], tg["pred_acc"], tg.get("pred_lo"), tg.get("pred_hi"), tg["actual_acc"])
        if "at_chance" not in flags:
            grid = np.linspace(*xlim, 200)
            ax.plot(grid, _clipped(law(p, {"x": grid}), ylim), color="black", lw=1)
        _errorbar(ax, tg["pred_loss"], tg["pred_acc"], tg.get("pred_lo"), tg.get("pred_hi"), tg.get("loss_lo"),
                  tg.get("loss_hi"))
        _actual(ax, tg["actual_loss"], tg["actual_acc"])
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        ax.set_xlabel(LABELS.get(_fit_row(fits, task, "step2")["x"], "intermediate"))
        ax.set_ylabel("accuracy")
        _title(ax, task, ok, flags)
    return fig


def chained_figure(fits, predictions, points, tasks):
    fig, axes = _grid(len(tasks))
    for ax, task in zip(axes, tasks):
        law1, p1, ok1 = _fit_of(fits, task, "step1")
        law2, p2, ok2 = _fit_of(fits, task, "step2")
        flags = _flags(predictions, task)
        pts1 = points[(points["task"] == task) & (points["fit_step"] == "step1")]
        pts2 = points[(points["task"] == task) & (points["fit_step"] == "step2")]
        tg = _targets(predictions, task)
        colors = _colors(list(pts1["n"]) + list(tg["n"]))
        tc = run_flops(tg["n"], tg["d"])
        if not pts2.empty:
            c2 = run_flops(pts2["n"], pts2["tokens"])
            ax.scatter(c2, pts2["y"], c=[colors[n] for n in pts2["n"]], s=5, alpha=0.4)
        else:
            c2 = run_flops(pts1["n"], pts1["d"])
            ax.scatter(c2, pts1["y"], c=[colors[n] for n in pts1["n"]], s=18)
        ydata = pts2["y"] if not pts2.empty else pts1["y"]
        xlim = _limits(c2, tc, log=True)
        ylim = _limits(ydata, tg["pred_acc"], tg.get("pred_lo"), tg.get("pred_hi"), tg["actual_acc"])
        if "at_chance" not in flags:
            for n in sorted(set(pts1["n"]) | set(tg["n"])):
                # where the chain is defined for this size: its own runs' tokens (or up to the target's)
                ds = list(pts1.loc[pts1["n"] == n, "d"]) + list(tg.loc[tg["n"] == n, "d"])
                d = np.geomspace(pts1["d"].min() / 2, max(ds) * 1.2, 200)
                x = {"n": np.full_like(d, n), "d": d, "flops": 6 * n * d}
                acc = law1(p1, x) if law2 is None else law2(p2, {"x": law1(p1, x)})
                ax.plot(6 * n * d, _clipped(acc, ylim), color=colors[n], lw=1, label=_size(n))
        _errorbar(ax, tc, tg["pred_acc"], tg.get("pred_lo"), tg.get("pred_hi"))
        _actual(ax, tc, tg["actual_acc"])
        _table(ax, tg)
        ax.set_xscale("log")
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        ax.set_xlabel("training compute (FLOPs)")
        ax.set_ylabel("accuracy")
        _title(ax, task, ok1 and ok2, flags)
    axes[0].legend(fontsize=6, loc="lower right")
    return fig


FIGURES = {"step1": step1_figure, "step2": step2_figure, "chained": chained_figure}


def method_figures(fits, predictions, points, outputs: dict, format: str = "png", dpi: int = 130) -> None:
    """Render the figures of one method; `outputs` maps figure name -> path."""
    tasks = list(dict.fromkeys(fits["task"]))
    method = fits["method"].iloc[0]
    for name, path in outputs.items():
        fig = FIGURES[name](fits, predictions, points, tasks)
        fig.suptitle(f"{method}: {name}", fontsize=11)
        _save(fig, path, format, dpi)


def members_figure(predictions: pd.DataFrame, weights: pd.DataFrame, path, name: str = "ensemble",
                   format: str = "png", dpi: int = 130) -> None:
    """Per task (its first target): each member's prediction and interval, with its weight (the marker's size and
    the label), the ensemble's, and the actual."""
    tasks = list(dict.fromkeys(predictions.loc[predictions["method"] == name, "task"]))
    fig, axes = _grid(len(tasks), width=3.8, height=2.8)
    for ax, task in zip(axes, tasks):
        w = weights[weights["task"] == task].set_index("method")["weight"]
        rows = predictions[(predictions["task"] == task) & predictions["method"].isin([*w.index, name])]
        rows = rows[rows["target"] == rows["target"].iloc[0]].set_index("method")
        order = [m for m in [*w.index, name] if m in rows.index]
        for y, method in enumerate(reversed(order)):
            r = rows.loc[method]
            color = TARGET_COLOR if method == name else "#4c72b0"
            if np.isfinite(r["pred_lo"]):
                ax.plot([r["pred_lo"], r["pred_hi"]], [y, y], color=color, lw=1.2)
            ax.scatter([r["pred_acc"]], [y], color=color, s=14 + 80 * w.get(method, 1.0), zorder=3)
        if np.isfinite(rows["actual_acc"].iloc[0]):
            ax.axvline(rows["actual_acc"].iloc[0], color="black", lw=1, ls="--", label="actual")
            ax.legend(fontsize=6, loc="lower right")
        ax.set_yticks(range(len(order)), [f"{m} ({w[m]:.2f})" if m in w else m for m in reversed(order)], fontsize=6)
        ax.set_xlabel(f"predicted accuracy, {rows['target'].iloc[0]}", fontsize=7)
        own = rows.reset_index()
        _title(ax, task, True, _flags(own[own["method"] == name], task))
    fig.suptitle(f"{name}: members (weight), predictions and intervals", fontsize=10)
    _save(fig, path, format, dpi)


def backtest_figure(backtest: pd.DataFrame, path, format: str = "png", dpi: int = 130) -> None:
    """Per task: the held-out runs' actual accuracy and each method's prediction with its interval (methods whose
    accuracy the ladder does not measure, such as MC accuracy, have no actuals and are left out); with groups,
    each group's runs together."""
    backtest = backtest[backtest["actual"].notna()]
    if backtest.empty:
        return _nothing_to_draw(path, "no backtests: the ladder has too few model sizes to predict its largest\n"
                                      "runs from its smaller ones (see analyses/backtest.csv)", format, dpi)
    tasks = list(dict.fromkeys(backtest["task"]))
    methods = list(dict.fromkeys(backtest["method"]))
    cmap = plt.get_cmap("tab10")
    fig, axes = _grid(len(tasks), width=4.0, height=2.8)
    for ax, task in zip(axes, tasks):
        rows = backtest[backtest["task"] == task]
        runs = list(dict.fromkeys(rows.sort_values([c for c in ("group", "n", "d") if c in rows])["run"]))
        x = {r: i for i, r in enumerate(runs)}
        for j, method in enumerate(methods):
            mine = rows[rows["method"] == method]
            xs = mine["run"].map(x) + (j - len(methods) / 2) * 0.08
            ax.errorbar(xs, mine["pred"], yerr=np.abs(np.vstack([mine["pred"] - mine["lo"], mine["hi"] - mine["pred"]])),
                        fmt="o", ms=2.5, lw=0.8, color=cmap(j % 10), label=method)
        actual = rows.drop_duplicates("run").set_index("run")["actual"]
        ax.scatter([x[r] for r in actual.index], actual, marker="_", s=120, color="black", zorder=5, label="actual")
        ax.set_xticks(range(len(runs)), runs, rotation=60, fontsize=6)
        ax.set_ylabel("accuracy", fontsize=7)
        ax.set_title(task, fontsize=8)
    axes[0].legend(fontsize=5, ncol=2)
    fig.suptitle("backtests: the ladder's largest runs predicted from its smaller ones", fontsize=10)
    _save(fig, path, format, dpi)


def group_comparison_figure(table: pd.DataFrame, method: str, path, format: str = "png", dpi: int = 130) -> None:
    """The groups ranked by `method`'s predicted accuracy: a row of panels (one per task) per target, and one for
    the ladder's largest run predicted from its smaller ones (the backtest cell of the largest N and D). Each
    panel: the groups best first, the prediction and its interval, the actual where measured, and the decision
    accuracy (pairs of groups in the right order) in its title."""
    rows = table[table["method"] == method]
    backtest = rows[rows["source"] == "backtest"]
    if len(backtest):  # the largest cell (N, then D) that more than one group has
        shared = backtest[backtest.groupby("target")["group"].transform("nunique") > 1]
        largest = shared.sort_values(["n", "d"])["target"].tail(1).tolist()
        rows = rows[(rows["source"] == "target") | rows["target"].isin(largest)]
    if rows.empty:
        return _nothing_to_draw(path, f"no group comparison for {method}: no target and no backtest of the\n"
                                      "ladder's largest size that more than one group has", format, dpi)
    targets = list(dict.fromkeys(rows["target"]))
    tasks = list(dict.fromkeys(rows["task"]))
    groups = sorted(rows["group"].unique())
    colors = {g: plt.get_cmap("tab10")(i % 10) for i, g in enumerate(groups)}
    fig, axes = plt.subplots(len(targets), len(tasks), squeeze=False,
                             figsize=(3.0 * len(tasks), 0.9 + 0.32 * len(groups) * len(targets) + 0.5 * len(targets)))
    for ax_row, target in zip(axes, targets):
        for ax, task in zip(ax_row, tasks):
            panel = rows[(rows["target"] == target) & (rows["task"] == task)].sort_values("rank", ascending=False)
            y = np.arange(len(panel))
            for k, r in zip(y, panel.itertuples()):
                if "pred_lo" in panel and np.isfinite(r.pred_lo):
                    ax.plot([r.pred_lo, r.pred_hi], [k, k], color=colors[r.group], lw=2, alpha=0.6)
                ax.scatter([r.pred_acc], [k], color=colors[r.group], s=22, zorder=3)
            if "actual_acc" in panel and panel["actual_acc"].notna().any():
                ax.scatter(panel["actual_acc"], y, marker="x", color="black", s=22, zorder=4, label="actual")
                ax.legend(fontsize=6, loc="lower right")
            ax.set_yticks(y, panel["group"], fontsize=7)
            ax.set_ylim(-0.6, len(panel) - 0.4)
            ax.tick_params(axis="x", labelsize=6)
            source = "ladder's largest, backtest" if (panel["source"] == "backtest").any() else "target"
            title = f"{task}\n{target} ({source})"
            if "decision_accuracy" in panel and panel["decision_accuracy"].notna().any():
                da = panel.iloc[0]
                title += f"\ndecision accuracy {da.decision_accuracy:.2f} ({int(da.pairs)} pairs)"
            ax.set_title(title, fontsize=7)
            ax.set_xlabel("accuracy", fontsize=7)
    fig.suptitle(f"groups ranked by predicted accuracy ({method}; interval, x = actual)", fontsize=10)
    _save(fig, path, format, dpi)


def _nothing_to_draw(path, message: str, format="png", dpi=130) -> None:
    """A figure that says why it is empty (a ladder too small for an analysis), so the workflow still completes."""
    fig, ax = plt.subplots(figsize=(6.0, 1.6))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=9, wrap=True)
    _save(fig, path, format, dpi)


def _save(fig, path, format="png", dpi=130):
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format=format)
    plt.close(fig)


def variance_figure(table: pd.DataFrame, path, format: str = "png", dpi: int = 130) -> None:
    """Relative SD of task loss and accuracy per task; bars above the average in red (hard to predict)."""
    fig, axes = plt.subplots(1, 2, figsize=(max(6.0, 0.9 * len(table)) * 1.2, 3.4))
    for ax, col, title in zip(axes, ("loss_rel_sd", "acc_rel_sd"), ("task loss", "accuracy")):
        values = 100 * table[col]
        colors = [TARGET_COLOR if high else "#4c72b0" for high in table[f"{col}_high"]]
        ax.bar(table["task"], values, color=colors)
        ax.axhline(values.mean(), color="gray", ls="--", lw=1, label="average")
        ax.set_ylabel(f"relative SD of {title} (%)")
        ax.set_title(f"{title}: last {table['checkpoints'].iloc[0]} checkpoints of {table['run'].iloc[0]}", fontsize=9)
        ax.tick_params(axis="x", rotation=45, labelsize=8)
        ax.legend(fontsize=7)
    _save(fig, path, format, dpi)


ORDER_LABELS = {"flops": "runs added by training FLOPs", "n": "model sizes added (all xC)",
                "xc": "data multiples added (all N)"}


def compute_vs_error_figure(table: pd.DataFrame, order: str, path, format: str = "png", dpi: int = 130) -> None:
    """Target prediction error against the ladder's share of the target's compute (paper Figs 6-8)."""
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    rows = table[table["order"] == order]
    for task, frame in rows.groupby("task", sort=False):
        ax.plot(100 * frame["compute_fraction"], 100 * frame["rel_error"], marker="o", ms=3, lw=1, label=task)
    if not rows.empty:
        mean = rows.groupby("compute_fraction")["rel_error"].mean()
        ax.plot(100 * mean.index, 100 * mean.to_numpy(), color="black", lw=2, label="average")
    ax.set_xscale("log")
    ax.set_xlabel("ladder compute (% of the target's)")
    ax.set_ylabel("relative error of the prediction (%)")
    ax.set_title(ORDER_LABELS.get(order, order), fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    _save(fig, path, format, dpi)
