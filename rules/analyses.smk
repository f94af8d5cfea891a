# The paper's analyses (section 5) and one target per method, each re-runnable alone:
#   snakemake method_taskce | ablations | variance | compute_vs_error | analyses


rule variance:
    input:
        expand(f"{RESULTS}/metrics/{{run}}.csv", run=EXP.ladder_runs),
    output:
        table=report(f"{RESULTS}/analyses/variance.csv", caption="../report/variance.rst", category="analyses"),
        figure=report(f"{RESULTS}/analyses/variance.{FMT}", caption="../report/variance.rst", category="analyses"),
    params:
        settings=config["analyses"]["variance"],
        figures=config["figures"],
    resources:
        **RESOURCES["fit"],
    log:
        f"{RESULTS}/logs/analyses/variance.log",
    script:
        "../scripts/variance.py"


CVE = config["analyses"]["compute_vs_error"]
CVE_FIGURES = {o: f"{RESULTS}/analyses/compute_vs_error_{o}.{FMT}" for o in CVE["orders"]}


rule compute_vs_error:
    input:
        ladder=expand(f"{RESULTS}/metrics/{{run}}.csv", run=EXP.ladder_runs),
        target=f"{RESULTS}/metrics/{EXP.cve_target}.csv",
    output:
        table=report(f"{RESULTS}/analyses/compute_vs_error.csv", caption="../report/compute_vs_error.rst",
                     category="analyses"),
        **{o: report(p, caption="../report/compute_vs_error.rst", category="analyses") for o, p in CVE_FIGURES.items()},
    params:
        method_name=CVE["method"],
        method=config["methods"][CVE["method"]],
        target=EXP.cve_target,
        spec=EXP.targets[EXP.cve_target].as_dict() if EXP.cve_target else None,
        orders=CVE["orders"],
        tasks=EXP.tasks,
        options=fit_options(config) | {"multistart": CVE["multistart"]},
        figures=config["figures"],
    resources:
        **RESOURCES["fit"],
    log:
        f"{RESULTS}/logs/analyses/compute_vs_error.log",
    script:
        "../scripts/compute_vs_error.py"


def method_outputs(method):
    return [
        *(f"{RESULTS}/methods/{method}/{t}.csv" for t in ("fits", "predictions", "points")),
        *(f"{RESULTS}/figures/{method}/{f}.{FMT}" for f in FIGURES),
    ]


for _method in EXP.methods:

    rule:
        name:
            f"method_{_method}"
        input:
            method_outputs(_method),


rule ablations:
    input:
        [method_outputs(m) for m in EXP.methods if m != "two_step"],


ANALYSES = [rules.variance.output.table] + ([rules.compute_vs_error.output.table] if EXP.cve_target else [])


rule analyses:
    input:
        ANALYSES,
