"""Workflow script: the corpus tokenizer, trained or loaded, saved (taskladder.data.prepare_tokenizer)."""
import os

from taskladder.base.log import script
from taskladder.corpus.tokenizer import prepare_tokenizer

with script(snakemake):
    os.environ.setdefault("RAYON_NUM_THREADS", str(snakemake.threads))  # the tokenizers' thread pool
    p = snakemake.params
    prepare_tokenizer({"corpus": dict(p.corpus), "tokenizer": dict(p.tokenizer)}, snakemake.output[0],
                      snakemake.input[0])
