"""Workflow script: the report's first page (with groups the answer per target and task, then the headline method's
predictions and figures)."""
import pandas as pd

from taskladder.base.files import write_text
from taskladder.base.log import script
from taskladder.report.page import first_page

with script(snakemake):
    job = snakemake.params.job
    ranking = snakemake.input.get("ranking")
    write_text(first_page(pd.read_csv(snakemake.input.predictions), job["method"], snakemake.input.figures,
                          job["experiment"], pd.read_csv(ranking) if ranking else None), snakemake.output[0])
