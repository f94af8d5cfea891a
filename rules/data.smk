# Corpus: sources -> (dedup, decontaminate) -> tokenizer -> token shards + held-out val slice
# (layout in taskladder/data.py). One job; EXP.corpus names its outputs, which training reads.


rule prepare_corpus:
    output:
        manifest=EXP.corpus["manifest"],
        val=EXP.corpus["val"],
        train=directory(EXP.corpus["train"]),
        tokenizer=directory(EXP.corpus["tokenizer"]),
    params:
        corpus=config["corpus"], tokenizer=config["tokenizer"], seed=config["seed"],
    threads: 2
    resources: **EXP.resources["prepare"],
    log: EXP.log("prepare_corpus"),
    conda: "../envs/train.yaml"
    script: "../scripts/prepare_corpus.py"
