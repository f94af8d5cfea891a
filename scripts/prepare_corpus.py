"""Workflow script: the experiment's corpus (taskladder.data.prepare_corpus)."""
import os
from pathlib import Path

from taskladder.data import prepare_corpus
from taskladder.io import script

with script(snakemake):
    os.environ.setdefault("RAYON_NUM_THREADS", str(snakemake.threads))  # the tokenizers' thread pool
    p = snakemake.params
    prepare_corpus({"seed": p.seed, "corpus": dict(p.corpus), "tokenizer": dict(p.tokenizer)},
                   Path(snakemake.output.manifest).parent)
