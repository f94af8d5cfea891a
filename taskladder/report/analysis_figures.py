"""Figures of the analyses: backtests, group comparison, variance, compute against error. Accuracy in percent (or
points), every colour in a legend outside the data (taskladder.report.style)."""

from __future__ import annotations

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter  # noqa: E402

from taskladder.report.page import share_text
from taskladder.report.style import TARGET_COLOR, _grid, _nothing_to_draw, _save, figure_legend, percent_axis


def backtest_figure(backtest: pd.DataFrame, path, format: str = "png", dpi: int = 130) -> None:
    """Per task: each backtest's error (prediction - actual, accuracy points) against its distance (decades of
    compute beyond the runs it was fitted on), one colour per method, and each method's calibrated half-width
    (its interval from a model that did not see the row's origin) as a band: how wrong fits this far out have
    been. Methods whose accuracy the ladder does not measure (MC accuracy) have no actuals and are left out."""
    backtest = backtest[backtest["actual"].notna() & backtest["pred"].notna()]
    if backtest.empty:
        return _nothing_to_draw(path, "no backtests: the ladder has too few model sizes to predict its largest\n"
                                      "runs from its smaller ones (see analyses/backtest.csv)", format, dpi)
    tasks = list(dict.fromkeys(backtest["task"]))
    methods = list(dict.fromkeys(backtest["method"]))
    cmap = plt.get_cmap("tab10")
    fig, axes = _grid(len(tasks), width=4.0, height=3.0, legend=1.4)
    for ax, task in zip(axes, tasks):
        rows = backtest[backtest["task"] == task]
        for j, method in enumerate(methods):
            mine = rows[rows["method"] == method].sort_values("distance")
            color = cmap(j % 10)
            ax.scatter(mine["distance"], 100 * (mine["pred"] - mine["actual"]), s=6, color=color, alpha=0.7, lw=0)
            width = 100 * (mine["hi"] - mine["lo"]) / 2
            if width.notna().any():
                band = width.groupby(mine["distance"].round(1)).median()
                ax.plot(band.index, band.to_numpy(), color=color, lw=0.9)
                ax.plot(band.index, -band.to_numpy(), color=color, lw=0.9)
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xlabel("distance (decades of compute beyond the fitted runs)", fontsize=7)
        ax.set_ylabel("error (accuracy points)", fontsize=7)
        ax.set_title(task, fontsize=8)
    figure_legend(fig, [Line2D([], [], color=cmap(j % 10), marker="o", ms=4, lw=0.9, label=m)
                        for j, m in enumerate(methods)], "method (dots: backtests,\nlines: half-widths)")
    fig.suptitle("backtests: error against extrapolation distance (lines: calibrated half-widths)", fontsize=10)
    _save(fig, path, format, dpi)


def _text(value) -> str:
    """A text cell of a table read back (an empty one reads as NaN)."""
    return value if isinstance(value, str) else ""


def _ranking_label(r) -> str:
    """The right-hand note of a target's task: the winner, its margin and share of draws (the ranking's row)."""
    if r is None:
        return ""
    if _text(r.winner):
        line = f"{r.winner} +{r.margin_points:.1f} pts"
        if r.draws:
            line += f", {share_text(r.win_share)} of draws"
    elif r.margin_points == 0:
        line = "tie: " + _text(r.note).split(";")[0].removeprefix("tie: ").split(" at ")[0]
    else:
        line = "no ranking"
    extra = []
    if r.pairs:
        extra.append(f"measured: {share_text(r.decision_accuracy)} of pairs right")
    if _text(r.left_out):
        extra.append(f"left out: {r.left_out}")
    return "\n".join([line, *extra])


def _ranking_panel(ax, panel: pd.DataFrame, target: str, tasks: list[str], answers: dict, offsets: dict,
                   colors: dict) -> None:
    """One panel of the group comparison: a row per task, each group's prediction and interval (and the actual),
    the answer (winner, margin, share of draws; or the backtest's decision accuracy) right of it."""
    is_backtest = (panel["source"] == "backtest").any()
    labels = []
    for i, task in enumerate(tasks):
        here = panel[panel["task"] == task]
        answer = answers.get((target, task))
        for r in here.itertuples():
            y = -i + offsets[r.group]
            if "pred_lo" in here and np.isfinite(r.pred_lo):
                ax.plot([r.pred_lo, r.pred_hi], [y, y], color=colors[r.group], lw=2.5, alpha=0.55,
                        solid_capstyle="butt")
            ax.scatter([r.pred_acc], [y], color=colors[r.group], s=30, zorder=3)
            if "actual_acc" in here and np.isfinite(r.actual_acc):
                ax.scatter([r.actual_acc], [y], marker="x", color="black", s=30, lw=1.2, zorder=4)
        if i:
            ax.axhline(-i + 0.5, color="0.88", lw=0.8)
        if is_backtest:
            first = here.iloc[0] if len(here) else None
            labels.append("" if first is None or not first["pairs"] else
                          f"decision accuracy {share_text(first['decision_accuracy'])}\n"
                          f"({int(first['pairs'])} pairs)")
        else:
            labels.append(_ranking_label(answer))
    centers = [-i for i in range(len(tasks))]
    ax.set_ylim(-len(tasks) + 0.5, 0.5)
    ax.set_yticks(centers, tasks, fontsize=10.5)
    ax.tick_params(axis="x", labelsize=9.5)
    ax.grid(axis="x", color="0.93", lw=0.8)
    ax.set_axisbelow(True)
    percent_axis(ax, "x", "predicted accuracy (%)")
    ax.xaxis.label.set_fontsize(10)
    right = ax.twinx()
    right.set_ylim(ax.get_ylim())
    right.set_yticks(centers, labels, fontsize=9.5)
    right.tick_params(axis="y", length=0)
    measured = panel["actual_acc"].notna().any() if "actual_acc" in panel else False
    title = (f"the ladder's largest size ({target}) predicted from its smaller sizes: backtest" if is_backtest
             else f"target {target}" + (" (measured: x = actual)" if measured else ""))
    ax.set_title(title, fontsize=10.5, loc="left")


def group_comparison_figure(table: pd.DataFrame, method: str, path, ranking: pd.DataFrame | None = None,
                            format: str = "png", dpi: int = 130) -> None:
    """The groups ranked by `method`'s predicted accuracy, sized to be read on the report's page: one panel per
    target, and one for the ladder's largest size predicted from its smaller ones (the backtest cell of the largest
    N and D that more than one group has). In each panel a row per task: every group's prediction (colour: the
    group, in the legend) with its interval, the actual where measured (x); right of the panel, the winner, its
    margin in points and its share of draws (`ranking`, analyses/group_ranking.csv), or for the backtest the
    decision accuracy (pairs of groups in the right order). Groups that cannot be predicted on a task are not
    drawn there."""
    rows = table[table["method"] == method]
    backtest = rows[rows["source"] == "backtest"]
    if len(backtest):  # the largest cell (N, then D) that more than one group has
        shared = backtest[backtest.groupby("target")["group"].transform("nunique") > 1]
        largest = shared.sort_values(["n", "d"])["target"].tail(1).tolist()
        rows = rows[(rows["source"] == "target") | rows["target"].isin(largest)]
    answers = {} if ranking is None else {(r.target, r.task): r for r in
                                           ranking[ranking["method"] == method].itertuples()}
    left_out = [r.source == "target" and r.group in _text(getattr(answers.get((r.target, r.task)), "left_out", ""))
                .split(", ") for r in rows.itertuples()]
    rows = rows[rows["pred_acc"].notna() & ~np.array(left_out, dtype=bool)]  # not predicted there: not drawn
    if rows.empty:
        return _nothing_to_draw(path, f"no group comparison for {method}: no target and no backtest of the\n"
                                      "ladder's largest size that more than one group has", format, dpi)
    targets = list(dict.fromkeys(rows.sort_values("source", key=lambda s: s != "target", kind="stable")["target"]))
    tasks = list(dict.fromkeys([*([] if ranking is None else ranking["task"]), *rows["task"]]))
    tasks = [t for t in tasks if t in set(rows["task"])]
    order = rows.groupby("group")["rank"].mean().sort_values(kind="stable")  # best on average first, on top
    groups = order.index.tolist()
    colors = {g: plt.get_cmap("tab10")(i % 10) for i, g in enumerate(sorted(groups))}
    step = min(0.8 / max(len(groups), 1), 0.28)
    offsets = {g: step * ((len(groups) - 1) / 2 - k) for k, g in enumerate(groups)}
    heights = [0.55 + len(tasks) * max(0.36, step * len(groups) * 0.7 + 0.1) for _ in targets]
    fig, axes = plt.subplots(len(targets), 1, squeeze=False, figsize=(9.0, sum(heights) + 0.9),
                             height_ratios=heights, layout="constrained")
    for ax, target in zip(axes[:, 0], targets):
        _ranking_panel(ax, rows[rows["target"] == target], target, tasks, answers, offsets, colors)
    handles = [Line2D([], [], color=colors[g], marker="o", lw=2.5, alpha=0.8, label=g) for g in groups]
    handles += [Line2D([], [], color="0.5", lw=2.5, alpha=0.55, label="interval"),
                Line2D([], [], ls="none", marker="x", color="black", ms=6, label="actual")]
    # the title heads the legend: constrained layout stacks a suptitle and an outside legend on one another
    fig.legend(handles=handles, loc="outside upper center", ncol=min(len(handles), 8), fontsize=10, frameon=False,
               title=f"Which group wins? Predicted accuracy by group, {method}", title_fontsize=11.5)
    _save(fig, path, format, dpi)


def variance_figure(table: pd.DataFrame, path, format: str = "png", dpi: int = 130) -> None:
    """Relative SD of task loss and accuracy per task; bars above the average in red (hard to predict)."""
    fig, axes = plt.subplots(1, 2, figsize=(max(6.0, 0.9 * len(table)) * 1.2 + 1.6, 3.4), layout="constrained")
    for ax, col, title in zip(axes, ("loss_rel_sd", "acc_rel_sd"), ("task loss", "accuracy")):
        values = 100 * table[col]
        colors = [TARGET_COLOR if high else "#4c72b0" for high in table[f"{col}_high"]]
        ax.bar(table["task"], values, color=colors)
        ax.axhline(values.mean(), color="gray", ls="--", lw=1, label="average")
        ax.set_ylabel(f"relative SD of {title} (%)")
        ax.set_title(f"{title}: last {table['checkpoints'].iloc[0]} checkpoints of {table['run'].iloc[0]}", fontsize=9)
        ax.tick_params(axis="x", rotation=45, labelsize=8)
    figure_legend(fig, [Patch(color=TARGET_COLOR, label="above the average\n(hard to predict)"),
                        Patch(color="#4c72b0", label="at or below it"),
                        Line2D([], [], color="gray", ls="--", lw=1, label="average")])
    _save(fig, path, format, dpi)


def compute_vs_error_figure(table: pd.DataFrame, order: str, path, format: str = "png", dpi: int = 130) -> None:
    """Target prediction error against the ladder's share of the target's compute (paper Figs 6-8)."""
    rows = table[table["order"] == order] if "order" in table else table.iloc[:0]
    if rows.empty or rows["rel_error"].isna().all():
        return _nothing_to_draw(path, f"compute vs error ({ORDER_LABELS.get(order, order)}): no prediction of the "
                                      "target\nfrom any part of the ladder (see analyses/compute_vs_error.csv "
                                      "and its log)", format, dpi)
    fig, ax = plt.subplots(figsize=(7.6, 3.8), layout="constrained")
    for task, frame in rows.groupby("task", sort=False):
        ax.plot(100 * frame["compute_fraction"], 100 * frame["rel_error"], marker="o", ms=3, lw=1, label=task)
    if rows["rel_error"].notna().any():
        mean = rows.groupby("compute_fraction")["rel_error"].mean()
        ax.plot(100 * mean.index, 100 * mean.to_numpy(), color="black", lw=2, label="average")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))  # plain numbers, no crowded minor labels
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.6g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("ladder compute (% of the target's)")
    ax.set_ylabel("relative error of the prediction (%)")
    ax.set_title(ORDER_LABELS.get(order, order), fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    _save(fig, path, format, dpi)


ORDER_LABELS = {"flops": "runs added by training FLOPs", "n": "model sizes added (all xC)",
                "xc": "data multiples added (all N)"}
