"""Figures in the spirit of the paper's Figures 2-4, one panel per task.

- step 1: the intermediate (task loss) against training tokens, one colour per model size,
  fitted curves extended to the target, predicted (open star, with its interval) and actual
  (filled) target.
- step 2: accuracy against the intermediate, smoothed checkpoints, the fitted curve, the target's
  prediction with its intervals on both axes, and its actual.
- chained: accuracy against training compute, the chained prediction per model size, the
  target's prediction with its interval; a small table under the panel gives each target's
  prediction, interval, actual and error.
- members (the ensemble): per task each member's prediction and interval, its weight, the
  ensemble's, and the actual.

Accuracy is shown in percent, as in the report's tables; the colours of model sizes (one mapping per
figure) have a legend right of the panels. Panel titles are red where a fit did not converge. A
panel whose predictions are flagged (`taskladder.fit.predictability`) names the flags under its title; a
task at chance on the ladder is not predictable at this scale, and one whose ladder shows no trend gets a
bounded prediction: neither's fits are drawn as laws. Axis limits come from the data,
the targets and their intervals; curves stay inside them."""

from __future__ import annotations

import matplotlib
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from taskladder.base.metrics_table import run_flops  # noqa: E402
from taskladder.fit import laws  # noqa: E402
from taskladder.report.registry import METHOD_FIGURES
from taskladder.report.style import (
    FLAG_COLOR,
    LABELS,
    TARGET_COLOR,
    _clipped,
    _colors,
    _grid,
    _limits,
    _save,
    figure_legend,
    percent_axis,
    size_handles,
    target_handles,
)

matplotlib.use("Agg")


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


def _lawful(flags: list[str]) -> bool:
    """Whether a task's fits are drawn as laws: not where the ladder stays at chance or shows no trend (bounded)."""
    return not {"at_chance", "bounded"} & set(flags)


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
    """A small table of each target's prediction, interval, actual and error (points), under the panel's x-axis
    label: outside the data."""
    lines = []
    for t in tg.itertuples():
        predicted = np.isfinite(t.pred_acc)
        text = f"{t.target}: {100 * t.pred_acc:.1f}" if predicted else f"{t.target}: no prediction"
        if predicted and np.isfinite(getattr(t, "pred_lo", np.nan)):
            text += f" [{100 * t.pred_lo:.1f}, {100 * t.pred_hi:.1f}]"
        if np.isfinite(t.actual_acc):
            text += f"  actual {100 * t.actual_acc:.1f}" + (f", err {100 * t.abs_error:.1f}" if predicted else "")
        lines.append(text)
    if lines:
        ax.annotate("\n".join(lines), xy=(0, 0), xycoords=("axes fraction", ax.xaxis.label), xytext=(0, -4),
                    textcoords="offset points", ha="left", va="top", fontsize=6.5, family="monospace",
                    color=TARGET_COLOR, annotation_clip=False)


def _size_colors(points: pd.DataFrame, predictions: pd.DataFrame) -> dict:
    """One colour per model size (the ladder's and the targets'), the same in every figure of a method, so one
    legend serves every panel."""
    return _colors([*points["n"].dropna(), *predictions["n"].dropna()])


def step1_figure(fits, predictions, points, tasks):
    fig, axes = _grid(len(tasks), legend=1.3)
    colors = _size_colors(points, predictions)
    gray = False
    for ax, task in zip(axes, tasks):
        law, p, ok = _fit_of(fits, task, "step1")
        flags = _flags(predictions, task)
        pts = points[(points["task"] == task) & (points["fit_step"] == "step1")]
        tg = _targets(predictions, task)
        single = "step2" not in set(fits.loc[fits["task"] == task, "step"])
        y, lo, hi, actual = (("pred_acc", "pred_lo", "pred_hi", "actual_acc") if single
                             else ("pred_loss", "loss_lo", "loss_hi", "actual_loss"))
        flops = law is not None and law.inputs == ("flops",)
        xcol = "flops" if flops else "d"
        tx = run_flops(tg["n"], tg["d"]) if flops else tg["d"].to_numpy(dtype=float)
        xlim = _limits(pts[xcol], tx, log=True)
        ylim = _limits(pts["y"], tg[y], tg.get(lo), tg.get(hi), tg[actual])
        drawn = _lawful(flags) and law is not None and xlim is not None
        sizes = [None] if flops else sorted(set(pts["n"]) | set(tg["n"]))
        for n in sizes:
            if not drawn:
                break
            grid = np.geomspace(*xlim, 200)
            x = {"flops": grid} if flops else {"n": np.full_like(grid, n), "d": grid}
            ax.plot(grid, _clipped(law(p, x), ylim), color="gray" if flops else colors[n], lw=1)
            gray |= flops
        ax.scatter(pts[xcol], pts["y"], c=[colors[n] for n in pts["n"]], s=18, zorder=3)
        _errorbar(ax, tx, tg[y], tg.get(lo), tg.get(hi))
        _actual(ax, tx, tg[actual])
        ax.set_xscale("log")
        if xlim:
            ax.set_xlim(*xlim)
        if ylim:
            ax.set_ylim(*ylim)
        ax.set_xlabel("training FLOPs" if flops else "training tokens D")
        row = _fit_row(fits, task, "step1")
        if single:
            percent_axis(ax, "y")
        else:
            ax.set_ylabel(LABELS.get(row["y"], "intermediate") if row is not None else "intermediate")
        _title(ax, task, ok, flags)
    fit = [Line2D([], [], color="gray", lw=1, label="fit (one law in FLOPs)")] if gray else []
    figure_legend(fig, [*size_handles(colors), *fit, *target_handles()], "model size N")
    return fig


def step2_figure(fits, predictions, points, tasks):
    fig, axes = _grid(len(tasks), legend=1.3)
    colors = _size_colors(points, predictions)
    shown = set(points.loc[points["fit_step"] == "step2", "n"])
    for ax, task in zip(axes, tasks):
        law, p, ok = _fit_of(fits, task, "step2")
        flags = _flags(predictions, task)
        if law is None:
            ax.text(0.5, 0.5, "single-step method:\nno step 2", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
            ax.set_yticks([])
            _title(ax, task, True, flags)
            continue
        pts = points[(points["task"] == task) & (points["fit_step"] == "step2")]
        tg = _targets(predictions, task)
        ax.scatter(pts["x"], pts["y"], c=[colors[n] for n in pts["n"]], s=6, alpha=0.6)
        xlim = _limits(pts["x"], tg["pred_loss"], tg.get("loss_lo"), tg.get("loss_hi"), tg["actual_loss"])
        ylim = _limits(pts["y"], tg["pred_acc"], tg.get("pred_lo"), tg.get("pred_hi"), tg["actual_acc"])
        if _lawful(flags) and xlim is not None:
            grid = np.linspace(*xlim, 200)
            ax.plot(grid, _clipped(law(p, {"x": grid}), ylim), color="black", lw=1)
        _errorbar(ax, tg["pred_loss"], tg["pred_acc"], tg.get("pred_lo"), tg.get("pred_hi"), tg.get("loss_lo"),
                  tg.get("loss_hi"))
        _actual(ax, tg["actual_loss"], tg["actual_acc"])
        if xlim:
            ax.set_xlim(*xlim)
        if ylim:
            ax.set_ylim(*ylim)
        ax.set_xlabel(LABELS.get(_fit_row(fits, task, "step2")["x"], "intermediate"))
        percent_axis(ax, "y")
        _title(ax, task, ok, flags)
    fit = Line2D([], [], color="black", lw=1, label="step-2 fit")
    mine = {n: c for n, c in colors.items() if n in shown}
    figure_legend(fig, [*size_handles(mine, marker=True), fit, *target_handles()], "checkpoints of size N")
    return fig


def chained_figure(fits, predictions, points, tasks):
    with_table = predictions["target"].nunique() if len(predictions) else 0
    fig, axes = _grid(len(tasks), height=3.0 + 0.13 * with_table, legend=1.3)
    colors = _size_colors(points, predictions)
    for ax, task in zip(axes, tasks):
        law1, p1, ok1 = _fit_of(fits, task, "step1")
        law2, p2, ok2 = _fit_of(fits, task, "step2")
        flags = _flags(predictions, task)
        pts1 = points[(points["task"] == task) & (points["fit_step"] == "step1")]
        pts2 = points[(points["task"] == task) & (points["fit_step"] == "step2")]
        tg = _targets(predictions, task)
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
        if _lawful(flags) and law1 is not None and len(pts1):
            for n in sorted(set(pts1["n"]) | set(tg["n"])):
                # where the chain is defined for this size: its own runs' tokens (or up to the target's)
                ds = list(pts1.loc[pts1["n"] == n, "d"]) + list(tg.loc[tg["n"] == n, "d"])
                d = np.geomspace(pts1["d"].min() / 2, max(ds) * 1.2, 200)
                x = {"n": np.full_like(d, n), "d": d, "flops": 6 * n * d}
                acc = law1(p1, x) if law2 is None else law2(p2, {"x": law1(p1, x)})
                ax.plot(6 * n * d, _clipped(acc, ylim), color=colors[n], lw=1)
        _errorbar(ax, tc, tg["pred_acc"], tg.get("pred_lo"), tg.get("pred_hi"))
        _actual(ax, tc, tg["actual_acc"])
        ax.set_xscale("log")
        if xlim:
            ax.set_xlim(*xlim)
        if ylim:
            ax.set_ylim(*ylim)
        ax.set_xlabel("training compute (FLOPs)")
        percent_axis(ax, "y")
        _table(ax, tg)
        _title(ax, task, ok1 and ok2, flags)
    figure_legend(fig, [*size_handles(colors), *target_handles()], "model size N")
    return fig


FIGURES = dict(zip(METHOD_FIGURES, (step1_figure, step2_figure, chained_figure)))


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
    if "kind" in weights:
        weights = weights[weights["kind"] == "weight"]
    fig, axes = _grid(len(tasks), width=3.8, height=2.8, legend=1.4)
    member_color = "#4c72b0"
    for ax, task in zip(axes, tasks):
        w = weights[weights["task"] == task].set_index("method")["weight"]
        rows = predictions[(predictions["task"] == task) & predictions["method"].isin([*w.index, name])]
        rows = rows[rows["target"] == rows["target"].iloc[0]].set_index("method")
        order = [m for m in [*w.index, name] if m in rows.index]
        for y, method in enumerate(reversed(order)):
            r = rows.loc[method]
            color = TARGET_COLOR if method == name else member_color
            if np.isfinite(r["pred_lo"]):
                ax.plot([r["pred_lo"], r["pred_hi"]], [y, y], color=color, lw=1.2)
            ax.scatter([r["pred_acc"]], [y], color=color, s=14 + 80 * w.get(method, 1.0), zorder=3)
        if np.isfinite(rows["actual_acc"].iloc[0]):
            ax.axvline(rows["actual_acc"].iloc[0], color="black", lw=1, ls="--")
        ax.set_yticks(range(len(order)), [f"{m} ({w[m]:.2f})" if m in w else m for m in reversed(order)], fontsize=7)
        percent_axis(ax, "x", f"predicted accuracy (%), {rows['target'].iloc[0]}")
        ax.xaxis.label.set_fontsize(8)
        own = rows.reset_index()
        _title(ax, task, True, _flags(own[own["method"] == name], task))
    handles = [Line2D([], [], color=member_color, marker="o", lw=1.2, label="member (interval;\nsize: weight)"),
               Line2D([], [], color=TARGET_COLOR, marker="o", lw=1.2, label=f"{name} (interval)"),
               Line2D([], [], color="black", ls="--", lw=1, label="actual")]
    figure_legend(fig, handles)
    fig.suptitle(f"{name}: members (weight), predictions and intervals", fontsize=10)
    _save(fig, path, format, dpi)
