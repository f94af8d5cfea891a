"""Workflow script: the report's first page (taskladder.report.first_page)."""
import pandas as pd

from taskladder.base.files import write_text
from taskladder.base.log import script
from taskladder.report.page import first_page

with script(snakemake):
    page = first_page(pd.read_csv(snakemake.input.predictions), snakemake.params.method, snakemake.input.figures,
                      snakemake.params.experiment)
    write_text(page, snakemake.output[0])
