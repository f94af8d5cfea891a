# Metrics -> per-method fits, chained predictions and figures -> the two summary tables.
# Each method is its own job, so changing one method's options reruns only that method.


rule fit_method:
    input:
        ladder=expand(f"{RESULTS}/metrics/{{run}}.csv", run=EXP.ladder_runs),
        targets=expand(f"{RESULTS}/metrics/{{run}}.csv", run=EXP.measured_targets),
        others=lambda w: expand(f"{RESULTS}/metrics/{{run}}.csv", run=EXP.runs_of(w.method)),
    output:
        fits=f"{RESULTS}/methods/{{method}}/fits.csv",
        predictions=f"{RESULTS}/methods/{{method}}/predictions.csv",
        points=f"{RESULTS}/methods/{{method}}/points.csv",
    wildcard_constraints:
        method="|".join(map(re.escape, EXP.methods)),
    params:
        method=lambda w: config["methods"][w.method],
        tasks=EXP.tasks,
        options=fit_options(config),
        targets={t.name: t.as_dict() for t in EXP.targets.values()},
    resources:
        **RESOURCES["fit"],
    log:
        f"{RESULTS}/logs/fit/{{method}}.log",
    script:
        "../scripts/fit_method.py"


rule figures_method:
    input:
        rules.fit_method.output,
    output:
        **{
            fig: report(
                f"{RESULTS}/figures/{{method}}/{fig}.{FMT}",
                caption=f"../report/{fig}.rst",
                category="{method}",
                labels={"method": "{method}", "figure": fig},
            )
            for fig in FIGURES
        },
    params:
        figures=config["figures"],
    resources:
        **RESOURCES["fit"],
    log:
        f"{RESULTS}/logs/figures/{{method}}.log",
    script:
        "../scripts/plot_method.py"


rule tables:
    input:
        fits=expand(f"{RESULTS}/methods/{{method}}/fits.csv", method=EXP.methods),
        predictions=expand(f"{RESULTS}/methods/{{method}}/predictions.csv", method=EXP.methods),
    output:
        fits=report(f"{RESULTS}/fits.csv", caption="../report/fits.rst", category="tables"),
        predictions=report(f"{RESULTS}/predictions.csv", caption="../report/predictions.rst", category="tables"),
    resources:
        **RESOURCES["fit"],
    log:
        f"{RESULTS}/logs/tables.log",
    script:
        "../scripts/collect_tables.py"
