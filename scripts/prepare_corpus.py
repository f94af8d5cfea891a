"""Snakemake: prepare the corpus of the experiment (taskladder.data.prepare_corpus)."""
import logging
import os
from pathlib import Path

from taskladder.data import prepare_corpus

snakemake = globals()["snakemake"]
logging.basicConfig(filename=snakemake.log[0], level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
os.environ.setdefault("RAYON_NUM_THREADS", str(snakemake.threads))  # the tokenizers' thread pool
p = snakemake.params
config = {"experiment": p.experiment, "seed": p.seed, "corpus": dict(p.corpus), "tokenizer": dict(p.tokenizer)}
prepare_corpus(config, Path(snakemake.output.manifest).parent)
