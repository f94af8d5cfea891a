# The paper's analyses (section 5); each is its own target (snakemake variance | compute_vs_error | analyses).
# A new analysis: a rule here and its outputs in FitPlan.analyses (taskladder/workflow/fitting.py).


rule variance:
    input: EXP.imports.metrics_of(EXP.runs.ladder_runs),
    output:
        table=report(EXP.layout.analysis("variance"), caption="../report/variance.rst", category="analyses"),
        figure=report(EXP.layout.analysis_figure("variance"), caption="../report/variance.rst", category="analyses"),
    params: job=EXP.job("variance"),
    resources: **EXP.resources["fit"],
    log: EXP.log("analyses/variance"),
    conda: "../envs/fit.yaml"
    script: "../scripts/variance.py"


rule compute_vs_error:
    input: ladder=EXP.imports.metrics_of(EXP.runs.ladder_runs), target=EXP.fits.cve_metrics,
    output:
        table=report(EXP.layout.analysis("compute_vs_error"), caption="../report/compute_vs_error.rst", category="analyses"),
        **{o: report(p, caption="../report/compute_vs_error.rst", category="analyses") for o, p in EXP.fits.cve_figures.items()},
    params: job=EXP.job("compute_vs_error"),
    resources: **EXP.resources["fit"],
    log: EXP.log("analyses/compute_vs_error"),
    conda: "../envs/fit.yaml"
    script: "../scripts/compute_vs_error.py"


rule backtest:
    input: EXP.layout.analysis("backtest"),
    output: report(EXP.layout.analysis_figure("backtest"), caption="../report/backtest.rst", category="analyses"),
    params: job=EXP.job("backtest"),
    resources: **EXP.resources["fit"],
    log: EXP.log("analyses/backtest"),
    conda: "../envs/fit.yaml"
    script: "../scripts/backtest_figure.py"


# With groups (data recipes): the groups ranked by predicted accuracy at each target and at the ladder's own largest
# size (its backtests), with decision accuracy where there are actuals; and the answer per target and task (which
# group wins, by how much, in what share of draws).
rule group_comparison:
    input: **EXP.fits.group_comparison_inputs,
    output:
        **{k: report(p, caption="../report/group_comparison.rst", category="analyses") for k, p in EXP.fits.group_comparison.items()},
    params: job=EXP.job("group_comparison"),
    resources: **EXP.resources["fit"],
    log: EXP.log("analyses/group_comparison"),
    conda: "../envs/fit.yaml"
    script: "../scripts/group_comparison.py"


# The planner (config key planner.target): candidate ladders for the target simulated from this experiment's ladder,
# their compute and expected error, and the one to train as a config (taskladder.planner).
rule plan_ladder:
    input: EXP.imports.metrics_of(EXP.runs.ladder_runs),
    output:
        **{k: report(p, caption="../report/plan.rst", category="planner") for k, p in EXP.fits.plan_outputs.items()},
    params: job=EXP.job("plan_ladder"),
    resources: **EXP.resources["fit"],
    log: EXP.log("analyses/plan_ladder"),
    conda: "../envs/fit.yaml"
    script: "../scripts/plan_ladder.py"
