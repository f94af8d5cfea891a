"""Workflow script: one corpus input prepared into its part (taskladder.data.prepare_part)."""
import os

from taskladder.base.log import script
from taskladder.corpus.prepare import prepare_part

with script(snakemake):
    os.environ.setdefault("RAYON_NUM_THREADS", str(snakemake.threads))  # the tokenizers' thread pool
    p = snakemake.params
    prepare_part({"seed": p.seed, "corpus": dict(p.corpus), "tokenizer": dict(p.tokenizer)},
                 int(snakemake.wildcards.part), snakemake.output[0], snakemake.input.tokenizer, snakemake.input.index)
