"""Figures in the spirit of the paper's Figures 2-4, one panel per task.

- step 1: the intermediate (task loss) against training tokens, one colour per model size,
  fitted curves extended to the target, predicted (open star) and actual (filled) target.
- step 2: accuracy against the intermediate, smoothed checkpoints, fitted curve with a
  95% prediction band (2 residual SDs), target prediction and actual.
- chained: accuracy against training compute 6ND, the chained prediction per model size,
  the target's prediction annotated with its error when the actual is known.

Fits that did not converge, or whose multi-start check disagreed, are titled in red.
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

TARGET_COLOR = "#d62728"
LABELS = {"task_loss": "task loss (bpb)", "task_ce": "TaskCE (nats)", "lm_loss": "LM loss (nats/token)"}


def _grid(n: int):
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), squeeze=False)
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
    row = _fit_row(fits, task, step)
    if row is None:
        return None, None, True
    law = laws.get(row["law"])
    ok = bool(row["converged"]) and bool(row["starts_agree"])
    return law, law.from_published(row.to_dict()), ok


def _title(ax, task: str, ok: bool, extra: str = ""):
    ax.set_title(task + extra + ("" if ok else "\n(fit not converged / starts disagree)"),
                 fontsize=9, color="black" if ok else TARGET_COLOR)


def _targets(predictions: pd.DataFrame, task: str) -> pd.DataFrame:
    return predictions[predictions["task"] == task]


def step1_figure(fits, predictions, points, tasks):
    fig, axes = _grid(len(tasks))
    for ax, task in zip(axes, tasks):
        law, p, ok = _fit_of(fits, task, "step1")
        pts = points[(points["task"] == task) & (points["fit_step"] == "step1")]
        tg = _targets(predictions, task)
        single = "step2" not in set(fits.loc[fits["task"] == task, "step"])
        ycol = ("pred_acc", "actual_acc") if single else ("pred_loss", "actual_loss")
        d_max = max([pts["d"].max(), *tg["d"].tolist()]) * 1.5
        if law.inputs == ("flops",):
            grid = np.geomspace(pts["flops"].min() / 2, max([pts["flops"].max(), *(6 * tg["n"] * tg["d"])]) * 1.5)
            ax.plot(grid, law(p, {"flops": grid}), color="gray", lw=1)
            ax.scatter(pts["flops"], pts["y"], c=[_colors(pts["n"])[n] for n in pts["n"]], s=18, zorder=3)
            xs = 6 * tg["n"] * tg["d"]
            ax.set_xlabel("training FLOPs")
        else:
            colors = _colors(list(pts["n"]) + list(tg["n"]))
            for n in sorted(set(pts["n"]) | set(tg["n"])):
                grid = np.geomspace(pts["d"].min() / 2, d_max)
                ax.plot(grid, law(p, {"n": np.full_like(grid, n), "d": grid}), color=colors[n], lw=1,
                        label=_size(n))
                mine = pts[pts["n"] == n]
                ax.scatter(mine["d"], mine["y"], color=colors[n], s=18, zorder=3)
            xs = tg["d"]
            ax.set_xlabel("training tokens D")
        ax.scatter(xs, tg[ycol[0]], marker="*", s=120, facecolor="none", edgecolor=TARGET_COLOR, zorder=4,
                   label="target predicted")
        ax.scatter(xs, tg[ycol[1]], marker="o", s=30, color=TARGET_COLOR, zorder=4, label="target actual")
        ax.set_xscale("log")
        ax.set_ylabel("accuracy" if single else LABELS.get(_fit_row(fits, task, "step1")["y"], "intermediate"))
        _title(ax, task, ok)
    axes[0].legend(fontsize=6, loc="upper right")
    return fig


def step2_figure(fits, predictions, points, tasks):
    fig, axes = _grid(len(tasks))
    for ax, task in zip(axes, tasks):
        law, p, ok = _fit_of(fits, task, "step2")
        if law is None:
            ax.text(0.5, 0.5, "single-step method:\nno step 2", ha="center", va="center", transform=ax.transAxes)
            _title(ax, task, True)
            continue
        pts = points[(points["task"] == task) & (points["fit_step"] == "step2")]
        colors = _colors(pts["n"])
        ax.scatter(pts["x"], pts["y"], c=[colors[n] for n in pts["n"]], s=6, alpha=0.6)
        tg = _targets(predictions, task)
        lo = min(pts["x"].min(), tg["pred_loss"].min(), tg["actual_loss"].min()) * 0.9
        grid = np.linspace(lo, pts["x"].max() * 1.02, 200)
        curve = law(p, {"x": grid})
        sd = float(np.std(pts["y"] - law(p, {"x": pts["x"].to_numpy()})))
        ax.plot(grid, curve, color="black", lw=1)
        ax.fill_between(grid, curve - 2 * sd, curve + 2 * sd, color="gray", alpha=0.25, lw=0)
        ax.scatter(tg["pred_loss"], tg["pred_acc"], marker="*", s=120, facecolor="none", edgecolor=TARGET_COLOR,
                   zorder=4)
        ax.scatter(tg["actual_loss"], tg["actual_acc"], marker="o", s=30, color=TARGET_COLOR, zorder=4)
        ax.set_xlabel(LABELS.get(_fit_row(fits, task, "step2")["x"], "intermediate"))
        ax.set_ylabel("accuracy")
        _title(ax, task, ok)
    return fig


def chained_figure(fits, predictions, points, tasks):
    fig, axes = _grid(len(tasks))
    for ax, task in zip(axes, tasks):
        law1, p1, ok1 = _fit_of(fits, task, "step1")
        law2, p2, ok2 = _fit_of(fits, task, "step2")
        pts1 = points[(points["task"] == task) & (points["fit_step"] == "step1")]
        pts2 = points[(points["task"] == task) & (points["fit_step"] == "step2")]
        tg = _targets(predictions, task)
        colors = _colors(list(pts1["n"]) + list(tg["n"]))
        if not pts2.empty:
            ax.scatter(6 * pts2["n"] * pts2["tokens"], pts2["y"], c=[colors[n] for n in pts2["n"]], s=5, alpha=0.4)
        else:
            ax.scatter(6 * pts1["n"] * pts1["d"], pts1["y"], c=[colors[n] for n in pts1["n"]], s=18)
        d_max = max([pts1["d"].max(), *tg["d"].tolist()]) * 1.5
        for n in sorted(set(pts1["n"]) | set(tg["n"])):
            d = np.geomspace(pts1["d"].min() / 4, d_max, 200)
            x = {"n": np.full_like(d, n), "d": d, "flops": 6 * n * d}
            acc = law1(p1, x) if law2 is None else law2(p2, {"x": law1(p1, x)})
            ax.plot(6 * n * d, acc, color=colors[n], lw=1, label=_size(n))
        for t in tg.itertuples():
            c = 6 * t.n * t.d
            ax.scatter([c], [t.pred_acc], marker="*", s=140, facecolor="none", edgecolor=TARGET_COLOR, zorder=4)
            text = f"{t.target}: pred {100 * t.pred_acc:.1f}"
            if np.isfinite(t.actual_acc):
                ax.scatter([c], [t.actual_acc], marker="o", s=30, color=TARGET_COLOR, zorder=4)
                text += f"\nactual {100 * t.actual_acc:.1f}, err {100 * t.abs_error:.1f} pts"
            ax.annotate(text, (c, t.pred_acc), xytext=(-6, -18), textcoords="offset points", ha="right",
                        fontsize=7, color=TARGET_COLOR)
        ax.set_xscale("log")
        ax.set_xlabel("training compute 6ND (FLOPs)")
        ax.set_ylabel("accuracy")
        _title(ax, task, ok1 and ok2)
    axes[0].legend(fontsize=6, loc="upper left")
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
