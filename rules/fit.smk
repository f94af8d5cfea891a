# Metrics -> per-method fits, intervals, backtests -> ensembles -> summary tables (with flags) -> figures.
# Each method is its own job with only its own definition and the options every fit reads as params: changing one
# reruns that method (and what gathers every method: the ensemble, the summary tables and, as the flags may change,
# the figures). With groups (data recipes), every job below the summary is one per group: methods/{method}/{group}/


rule fit_method:
    input: unpack(EXP.fits.fit_inputs),
    output: **EXP.fits.tables("{method}", "{group}"),
    wildcard_constraints: method=EXP.pattern("fitted"),
    params: job=EXP.job("fit_method"),
    resources: **EXP.resources["fit"],
    log: EXP.log(EXP.layout.in_group("fit/{method}")),
    conda: "../envs/fit.yaml"
    script: "../scripts/fit_method.py"


rule fit_ensemble:
    input: unpack(EXP.fits.ensemble_inputs),
    output: **EXP.layout.method_tables("{method}", True, "{group}"),
    wildcard_constraints: method=EXP.pattern("ensemble"),
    params: job=EXP.job("fit_ensemble"),
    resources: **EXP.resources["fit"],
    log: EXP.log(EXP.layout.in_group("fit/{method}")),
    conda: "../envs/fit.yaml"
    script: "../scripts/fit_ensemble.py"


rule tables:
    input: **EXP.fits.summary_inputs,
    output: **{t: report(p, caption=f"../report/{t}.rst", category="tables") for t, p in EXP.fits.summary_outputs.items()},
    params: job=EXP.job("tables"),
    resources: **EXP.resources["fit"],
    log: EXP.log("tables"),
    conda: "../envs/fit.yaml"
    script: "../scripts/collect_tables.py"


rule figures_method:
    input: unpack(EXP.fits.figure_inputs),
    output:
        **{f: report(p, caption=f"../report/{f}.rst", category="{method}", labels={"method": "{method}", "figure": f})
           for f, p in EXP.layout.figures("{method}", False, "{group}").items()},
    wildcard_constraints: method=EXP.pattern("fitted"),
    params: job=EXP.job("figures_method"),
    resources: **EXP.resources["fit"],
    log: EXP.log(EXP.layout.in_group("figures/{method}")),
    conda: "../envs/fit.yaml"
    script: "../scripts/plot_method.py"


rule figures_ensemble:
    input: unpack(EXP.fits.figure_inputs),
    output:
        members=report(EXP.layout.figure("{method}", "members", "{group}"), caption="../report/members.rst",
                       category="{method}"),
    wildcard_constraints: method=EXP.pattern("ensemble"),
    params: job=EXP.job("figures_ensemble"),
    resources: **EXP.resources["fit"],
    log: EXP.log(EXP.layout.in_group("figures/{method}")),
    conda: "../envs/fit.yaml"
    script: "../scripts/plot_method.py"
