# The paper's analyses (section 5); each is its own target (snakemake variance | compute_vs_error | analyses).
# A new analysis: a rule here and its outputs in Experiment.analyses.


rule variance:
    input: EXP.metrics_of(EXP.ladder_runs),
    output:
        table=report(EXP.analysis("variance"), caption="../report/variance.rst", category="analyses"),
        figure=report(EXP.analysis_figure("variance"), caption="../report/variance.rst", category="analyses"),
    params: settings=EXP.variance_settings, figures=config["figures"],
    resources: **EXP.resources["fit"],
    log: EXP.log("analyses/variance"),
    conda: "../envs/fit.yaml"
    script: "../scripts/variance.py"


rule compute_vs_error:
    input: ladder=EXP.metrics_of(EXP.ladder_runs), target=EXP.cve_metrics,
    output:
        table=report(EXP.analysis("compute_vs_error"), caption="../report/compute_vs_error.rst", category="analyses"),
        **{o: report(p, caption="../report/compute_vs_error.rst", category="analyses") for o, p in EXP.cve_figures.items()},
    params: **EXP.cve_params, figures=config["figures"],
    resources: **EXP.resources["fit"],
    log: EXP.log("analyses/compute_vs_error"),
    conda: "../envs/fit.yaml"
    script: "../scripts/compute_vs_error.py"


rule backtest:
    input: EXP.analysis("backtest"),
    output: report(EXP.analysis_figure("backtest"), caption="../report/backtest.rst", category="analyses"),
    params: figures=config["figures"],
    resources: **EXP.resources["fit"],
    log: EXP.log("analyses/backtest"),
    conda: "../envs/fit.yaml"
    script: "../scripts/backtest_figure.py"


# With groups (data recipes): the groups ranked by predicted accuracy at each target and at the ladder's own largest
# size (its backtests), with decision accuracy where there are actuals.
rule group_comparison:
    input: predictions=EXP.table("predictions"), backtest=EXP.analysis("backtest"),
    output:
        **{k: report(p, caption="../report/group_comparison.rst", category="analyses") for k, p in EXP.group_comparison.items()},
    params: **EXP.group_comparison_params, figures=config["figures"],
    resources: **EXP.resources["fit"],
    log: EXP.log("analyses/group_comparison"),
    conda: "../envs/fit.yaml"
    script: "../scripts/group_comparison.py"
