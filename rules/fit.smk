# Metrics -> per-method fits, intervals, backtests -> ensembles -> summary tables (with flags) -> figures.
# Each method is its own job with only its own options as params: changing one reruns that method (and what
# gathers every method: the ensemble, the summary tables and, as the flags may change, the figures).
# With groups (data recipes), every job below the summary is one per group too: methods/{method}/{group}/...


rule fit_method:
    input: unpack(EXP.fit_inputs),
    output: **EXP.method_tables("{method}", "{group}"),
    wildcard_constraints: method=EXP.pattern("fitted"),
    params: **EXP.fit_params,
    resources: **EXP.resources["fit"],
    log: EXP.log(EXP.in_group("fit/{method}")),
    conda: "../envs/fit.yaml"
    script: "../scripts/fit_method.py"


rule fit_ensemble:
    input: unpack(EXP.ensemble_inputs),
    output: **EXP.ensemble_tables("{method}", "{group}"),
    wildcard_constraints: method=EXP.pattern("ensemble"),
    params: **EXP.ensemble_params,
    resources: **EXP.resources["fit"],
    log: EXP.log(EXP.in_group("fit/{method}")),
    conda: "../envs/fit.yaml"
    script: "../scripts/fit_ensemble.py"


rule tables:
    input: **EXP.summary_inputs,
    output: **{t: report(p, caption=f"../report/{t}.rst", category="tables") for t, p in EXP.summary_outputs.items()},
    params: **EXP.summary_params,
    resources: **EXP.resources["fit"],
    log: EXP.log("tables"),
    conda: "../envs/fit.yaml"
    script: "../scripts/collect_tables.py"


rule figures_method:
    input: unpack(EXP.figure_inputs),
    output:
        **{f: report(p, caption=f"../report/{f}.rst", category="{method}", labels={"method": "{method}", "figure": f})
           for f, p in EXP.figures("{method}", "{group}").items()},
    wildcard_constraints: method=EXP.pattern("fitted"),
    params: figures=config["figures"],
    resources: **EXP.resources["fit"],
    log: EXP.log(EXP.in_group("figures/{method}")),
    conda: "../envs/fit.yaml"
    script: "../scripts/plot_method.py"


rule figures_ensemble:
    input: unpack(EXP.figure_inputs),
    output:
        members=report(EXP.figure("{method}", "members", "{group}"), caption="../report/members.rst", category="{method}"),
    wildcard_constraints: method=EXP.pattern("ensemble"),
    params: figures=config["figures"],
    resources: **EXP.resources["fit"],
    log: EXP.log(EXP.in_group("figures/{method}")),
    conda: "../envs/fit.yaml"
    script: "../scripts/plot_method.py"
