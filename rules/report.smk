# `snakemake --report report.html`: the first page is report_page's output (with groups, the answer per target
# and task; the headline method's predictions and figures); then every output wrapped in report() with its caption.


report: str(Path(EXP.layout.report_page).absolute())


rule report_page:
    input: **EXP.fits.report_inputs,
    output: EXP.layout.report_page,
    params: job=EXP.job("report_page"),
    resources: **EXP.resources["fit"],
    log: EXP.log("report_page"),
    conda: "../envs/fit.yaml"
    script: "../scripts/report_page.py"
