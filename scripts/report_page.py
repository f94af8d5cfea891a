"""Workflow script: the report's first page (the headline method's predictions and figures)."""
import pandas as pd

from taskladder.base.files import write_text
from taskladder.base.log import script
from taskladder.report.page import first_page

with script(snakemake):
    job = snakemake.params.job
    write_text(first_page(pd.read_csv(snakemake.input.predictions), job["method"], snakemake.input.figures,
                          job["experiment"]), snakemake.output[0])
