# Metrics -> per-method fits, chained predictions and figures -> the summary tables (EXP.tables).
# Each method is its own job with only its own options as params: changing one reruns that method only.


rule fit_method:
    input:
        ladder=EXP.metrics_of(EXP.ladder_runs),
        targets=EXP.metrics_of(EXP.measured_targets),
        others=lambda w: EXP.metrics_of(EXP.runs_of(w.method)),
    output: **EXP.method_tables("{method}"),
    params: method=lambda w: EXP.methods[w.method], tasks=EXP.tasks, options=EXP.fit_options, targets=EXP.target_specs,
    resources: **EXP.resources["fit"],
    log: EXP.log("fit/{method}"),
    conda: "../envs/fit.yaml"
    script: "../scripts/fit_method.py"


rule figures_method:
    input: **EXP.method_tables("{method}"),
    output:
        **{f: report(p, caption=f"../report/{f}.rst", category="{method}", labels={"method": "{method}", "figure": f})
           for f, p in EXP.figures("{method}").items()},
    params: figures=config["figures"],
    resources: **EXP.resources["fit"],
    log: EXP.log("figures/{method}"),
    conda: "../envs/fit.yaml"
    script: "../scripts/plot_method.py"


rule tables:
    input: **{t: [EXP.method_tables(m)[t] for m in EXP.methods] for t in EXP.tables},
    output: **{t: report(EXP.table(t), caption=f"../report/{t}.rst", category="tables") for t in EXP.tables},
    resources: **EXP.resources["fit"],
    log: EXP.log("tables"),
    conda: "../envs/fit.yaml"
    script: "../scripts/collect_tables.py"
