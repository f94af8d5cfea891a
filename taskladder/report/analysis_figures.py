"""Figures of the analyses: backtests, group comparison, variance, compute against error."""

from __future__ import annotations

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from taskladder.report.style import TARGET_COLOR, _grid, _nothing_to_draw, _save


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
    fig, axes = _grid(len(tasks), width=4.0, height=3.0)
    for ax, task in zip(axes, tasks):
        rows = backtest[backtest["task"] == task]
        for j, method in enumerate(methods):
            mine = rows[rows["method"] == method].sort_values("distance")
            color = cmap(j % 10)
            ax.scatter(mine["distance"], 100 * (mine["pred"] - mine["actual"]), s=6, color=color, alpha=0.7,
                       label=method, lw=0)
            width = 100 * (mine["hi"] - mine["lo"]) / 2
            if width.notna().any():
                band = width.groupby(mine["distance"].round(1)).median()
                ax.plot(band.index, band.to_numpy(), color=color, lw=0.9)
                ax.plot(band.index, -band.to_numpy(), color=color, lw=0.9)
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xlabel("distance (decades of compute beyond the fitted runs)", fontsize=7)
        ax.set_ylabel("error (accuracy points)", fontsize=7)
        ax.set_title(task, fontsize=8)
    axes[0].legend(fontsize=6, markerscale=2)
    fig.suptitle("backtests: error against extrapolation distance (lines: calibrated half-widths)", fontsize=10)
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


ORDER_LABELS = {"flops": "runs added by training FLOPs", "n": "model sizes added (all xC)",
                "xc": "data multiples added (all N)"}
