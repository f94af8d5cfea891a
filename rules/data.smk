# Corpus: sources -> (dedup, decontaminate) -> tokenizer -> token shards + held-out val slice.
# Writes results/{experiment}/corpus/ (layout in taskladder/data.py). Needs RESULTS and RESOURCES from the Snakefile.

CORPUS = {
    "manifest": f"{RESULTS}/corpus/manifest.json",
    "val": f"{RESULTS}/corpus/val.npy",
    "train": f"{RESULTS}/corpus/train",
    "tokenizer": f"{RESULTS}/corpus/tokenizer",
}


rule prepare_corpus:
    output:
        manifest=CORPUS["manifest"],
        val=CORPUS["val"],
        train=directory(CORPUS["train"]),
        tokenizer=directory(CORPUS["tokenizer"]),
    params:
        corpus=config["corpus"],
        tokenizer=config["tokenizer"],
        seed=config["seed"],
        experiment=config["experiment"],
    threads: 2
    resources:
        **RESOURCES["prepare"],
    log:
        f"{RESULTS}/logs/prepare_corpus.log",
    script:
        "../scripts/prepare_corpus.py"
