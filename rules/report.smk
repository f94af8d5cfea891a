# `snakemake --report report.html` collects every output wrapped in report() with its caption.


report: "../report/workflow.rst"
