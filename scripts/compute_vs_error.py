"""Workflow script: a target's prediction error as the ladder grows (paper sec 5.2)."""
from taskladder.analyses import paper
from taskladder.base.files import write_csv
from taskladder.base.log import script
from taskladder.base.metrics_table import read_metrics
from taskladder.report import analysis_figures

with script(snakemake) as log:
    p = snakemake.params
    target = dict(p.spec, metrics=read_metrics(snakemake.input.target))
    table = paper.compute_vs_error(read_metrics(snakemake.input.ladder), p.target, target, p.method_name, p.method,
                                      p.tasks, p.options, p.orders,
                                      progress=lambda order, k: log.info("%s: fitted with %d runs", order, k))
    write_csv(table, snakemake.output.table)
    for order in p.orders:
        analysis_figures.compute_vs_error_figure(table, order, snakemake.output[order], **p.figures)
