"""Workflow script: the corpus's tokenizer (a BPE trained on it, or the configured one)."""
import os

from taskladder.base.log import script
from taskladder.corpus.tokenizer import prepare_tokenizer

with script(snakemake):
    os.environ.setdefault("RAYON_NUM_THREADS", str(snakemake.threads))  # the tokenizers' thread pool
    prepare_tokenizer(snakemake.params.job, snakemake.output[0], snakemake.input[0])
