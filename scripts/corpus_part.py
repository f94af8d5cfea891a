"""Workflow script: one corpus input -> its prepared part (dedup, decontaminate, tokenize, hold documents out)."""
import os

from taskladder.base.log import script
from taskladder.corpus.prepare import prepare_part

with script(snakemake):
    os.environ.setdefault("RAYON_NUM_THREADS", str(snakemake.threads))  # the tokenizers' thread pool
    prepare_part(snakemake.params.job, int(snakemake.wildcards.part), snakemake.output[0], snakemake.input.tokenizer,
                 snakemake.input.index)
