"""Workflow script: the prepared parts -> the corpus (validation slice, held-out documents, manifest)."""
from pathlib import Path

from taskladder.base.log import script
from taskladder.corpus.prepare import merge_parts

with script(snakemake):
    merge_parts(snakemake.params.job, list(snakemake.input), Path(snakemake.output.manifest).parent)
