"""Workflow script: the prepared parts merged into the corpus (taskladder.data.merge_parts)."""
from pathlib import Path

from taskladder.base.log import script
from taskladder.corpus.prepare import merge_parts

with script(snakemake):
    p = snakemake.params
    merge_parts({"corpus": dict(p.corpus), "tokenizer": dict(p.tokenizer)}, list(snakemake.input),
                Path(snakemake.output.manifest).parent)
