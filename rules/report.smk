# `snakemake --report report.html`: the first page is report_page's output (the headline method's
# predictions and figures); then every output wrapped in report() with its caption.


report: EXP.report_page_source


rule report_page:
    input: predictions=EXP.table("predictions"), figures=EXP.headline_figures,
    output: EXP.report_page,
    params: method=EXP.headline_method, experiment=EXP.name,
    resources: **EXP.resources["fit"],
    log: EXP.log("report_page"),
    conda: "../envs/fit.yaml"
    script: "../scripts/report_page.py"
