"""The jobs that draw: a method's figures, and the analyses that come with a figure (each job's table written
first, then its figures). The workflow's scripts and `taskladder fit --figures` call these."""

from __future__ import annotations

import logging

import pandas as pd

from taskladder.analyses import groups, paper
from taskladder.base.files import write_csv
from taskladder.base.metrics_table import read_metrics
from taskladder.report import analysis_figures, figures
from taskladder.report.page import lead_lines

log = logging.getLogger(__name__)


def figures_job(method: str, job: dict, inputs: dict, outputs: dict) -> None:
    """The figures of one method (`inputs`: its tables and "summary", the predictions with their flags; with
    `job["group"]`, those of one group's ladder): step 1, step 2, chained, or an ensemble's members."""
    read = lambda name: pd.read_csv(inputs[name])  # noqa: E731
    summary = read("summary")
    if job.get("group"):
        summary = summary[summary["group"] == job["group"]]
    if "members" in outputs:
        figures.members_figure(summary, read("weights"), outputs["members"], method, **job["figures"])
    else:
        figures.method_figures(read("fits"), summary[summary["method"] == method], read("points"), outputs,
                               **job["figures"])


def variance_job(job: dict, metric_files: list, outputs: dict) -> pd.DataFrame:
    """The variance analysis (paper 5.1) of the run `job["settings"]` names (default: the ladder's largest)."""
    settings = job["settings"]
    metrics = read_metrics(metric_files)
    run = settings["run"] or paper.largest_run(metrics)
    table = paper.variance(metrics, run, settings["tasks"], settings["last"])
    write_csv(table, outputs["table"])
    analysis_figures.variance_figure(table, outputs["figure"], **job["figures"])
    log.info("variance over the last %d checkpoints of %s:\n%s", settings["last"], run, table.to_string(index=False))
    return table


def compute_vs_error_job(job: dict, ladder_files: list, target_file, outputs: dict) -> pd.DataFrame:
    """The compute-vs-error analysis (paper 5.2): the target's error as the ladder grows, in each order."""
    target = dict(job["spec"], metrics=read_metrics(target_file))
    table = paper.compute_vs_error(read_metrics(ladder_files), job["target"], target, job["method_name"],
                                   job["method"], job["tasks"], job["options"], job["intervals"], job["evidence"],
                                   job["orders"],
                                   progress=lambda order, k: log.info("%s: fitted with %d runs", order, k))
    write_csv(table, outputs["table"])
    for order in job["orders"]:
        analysis_figures.compute_vs_error_figure(table, order, outputs[order], **job["figures"])
    return table


def comparison_job(job: dict, predictions_file, backtest_file, outputs: dict, draws_files=()) -> pd.DataFrame:
    """The groups ranked per target and task with decision accuracy (taskladder.analyses.groups.compare), the answer
    per target and task (`group_ranking`: winner, margin, share of draws, decision accuracy on backtests; from every
    method's draws, `draws_files`), and the figure of the headline method's ranking."""
    predictions = pd.read_csv(predictions_file)
    table = groups.compare(predictions, pd.read_csv(backtest_file))
    write_csv(table, outputs["table"])
    draws = [frame for frame in map(pd.read_csv, draws_files) if len(frame)]
    ranking = groups.group_ranking(predictions, pd.concat(draws, ignore_index=True) if draws else None, table)
    if "ranking" in outputs:
        write_csv(ranking, outputs["ranking"])
    analysis_figures.group_comparison_figure(table, job["method"], outputs["figure"], ranking, **job["figures"])
    scored = table[table["method"] == job["method"]].drop_duplicates(["source", "target", "task"])
    log.info("%s: decision accuracy per target and task:\n%s", job["method"],
             scored[["source", "target", "task", "decision_accuracy", "pairs"]].to_string(index=False))
    log.info("%s: the answer per target and task:\n%s", job["method"], "\n".join(lead_lines(ranking, job["method"])))
    return table
